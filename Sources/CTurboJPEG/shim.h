// CTurboJPEG: libjpeg-turbo's TurboJPEG 2.x API (tjDecompressHeader3, tjDecompress2, tjCompress2).
#include <turbojpeg.h>
