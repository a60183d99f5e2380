/* SPDX-License-Identifier: BSD-2-Clause */
/* digest.c: SHA-256 from OpenSSL's libcrypto. */
#ifndef HFGATE_DIGEST_H
#define HFGATE_DIGEST_H

#include <openssl/evp.h>

/*
 * The SHA-256 implementation, fetched once for the process: OpenSSL 3 looks an
 * algorithm up by name on every EVP_sha256() initialisation, which costs more than
 * hashing a key or a small request. NULL if libcrypto has none. Borrowed.
 */
const EVP_MD	*digest_sha256(void);

#endif
