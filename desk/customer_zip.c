/*
 * The pieces of a customer's export archive that the command line (which
 * writes a file) and the REST API (which answers with the bytes) share:
 * customer.json beside sources/ and attachments/, every file added from a
 * copy that libzip owns, so the caller may free its own at once.
 */
#include <glib.h>
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "desk.h"

bool desk_zip_add(zip_t *z, const char *name, const void *data, size_t n)
{
    void *copy = malloc(n ? n : 1);
    if (!copy || !name) {
        free(copy);
        return false;
    }
    memcpy(copy, data, n);
    zip_source_t *src = zip_source_buffer(z, copy, n, 1);
    if (!src) {
        free(copy);
        return false;
    }
    if (zip_file_add(z, name, src, ZIP_FL_ENC_UTF_8 | ZIP_FL_OVERWRITE) < 0) {
        zip_source_free(src);
        return false;
    }
    return true;
}

bool desk_zip_add_file(zip_t *z, const json_t *file)
{
    const char *b64 = json_string_value(json_object_get(file, "data"));
    size_t n = 0;
    unsigned char *bytes = b64 ? g_base64_decode(b64, &n) : NULL;
    bool ok = bytes && desk_zip_add(z, json_string_value(json_object_get(file, "name")), bytes, n);
    g_free(bytes);
    return ok;
}
