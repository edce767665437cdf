// CKernels: kernels that need intrinsics, one file per instruction set, selected at run time.
#pragma once
int ck_placeholder(void);
