/* An image resolver for the unit tests (service.h's vs_image_resolver)
 * until the image store is wired in: no archive is read.
 *   "missing..."     NOT_FOUND "No such image: NAME"
 *   "preloaded/..."  a preloaded image: ref NAME, nothing linked
 *   anything else    a file with NAME in it linked at dest (0600), id
 *                    "sha256:" + sha256(NAME) */
#ifndef VS_FAKE_IMAGES_H
#define VS_FAKE_IMAGES_H

#include "service.h"

int fake_image_resolve(void *userdata, const char *owner, const char *name, const char *dest, vs_container_image *ret,
                       vs_error *err);
/* The id fake_image_resolve gives name. */
void fake_image_id(const char *name, char ret[VS_CONTAINER_IMAGE_ID_LEN + 1]);

#endif
