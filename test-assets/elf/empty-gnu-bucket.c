/* The symbols of test-assets/elf/empty-gnu-bucket.so (built by capture.sh), on which the unit
 * tests of launcher-preload/src/libc.rs look names up. Each data symbol holds its own name
 * with its version, so a test can tell which definition a lookup found. With the version
 * script, ld gives the GNU hash table 3 buckets and no defined symbol hashes to the third:
 * an empty bucket, which holds 0. */
const char found_data[] = "found_data";
const char *found_function(void) { return found_data; }
/* Undefined here: in .dynsym, typed as the object it will be, but not a definition. */
extern const char imported[];
__asm__(".type imported, @object");
const char *uses_import(void) { return imported; }
/* Hidden: not in .dynsym at all. */
__attribute__((visibility("hidden"))) const char hidden_data[] = "hidden_data";
/* Two versions of one name: the default one (@@) is the one to find. */
const char versioned_old[] = "versioned@VER_1";
__asm__(".symver versioned_old, versioned@VER_1");
const char versioned_new[] = "versioned@@VER_2";
__asm__(".symver versioned_new, versioned@@VER_2");
/* Only a non-default (hidden) version: the loader binds no new reference to it. */
const char compat_only_old[] = "compat_only@VER_1";
__asm__(".symver compat_only_old, compat_only@VER_1");
