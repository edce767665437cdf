// CPNG: libpng's simplified API (png_image_*), which needs no setjmp.
#include <png.h>
// PNG_FORMAT_RGBA is a macro expression Swift does not import; spell the formats we use as constants.
static const unsigned int cpng_format_gray = PNG_FORMAT_GRAY;
static const unsigned int cpng_format_rgb = PNG_FORMAT_RGB;
static const unsigned int cpng_format_rgba = PNG_FORMAT_RGB | PNG_FORMAT_FLAG_ALPHA;
static const unsigned int cpng_format_bgr = PNG_FORMAT_BGR;
static inline unsigned int cpng_image_version(void) { return PNG_IMAGE_VERSION; }
