// CV4L2: libv4l2 and the V4L2 UAPI. Swift imports neither C-variadic functions (v4l2_open, v4l2_ioctl)
// nor function-like macros (VIDIOC_*, V4L2_PIX_FMT_*): they are wrapped here as static inline functions
// and constants. CondSegCapture extends this file as it needs more of the API.
#include <fcntl.h>
#include <linux/videodev2.h>
#include <libv4l2.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

static inline int cv4l2_open(const char *path, int flags) { return v4l2_open(path, flags); }
static inline int cv4l2_ioctl(int fd, unsigned long request, void *arg) { return v4l2_ioctl(fd, request, arg); }
