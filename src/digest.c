/* SPDX-License-Identifier: BSD-2-Clause */
/* SHA-256 for the cache keys (canon.c) and the client keys (config.c, auth.c). */
#include <pthread.h>

#include <openssl/evp.h>

#include "digest.h"

static EVP_MD		*digest_md;
static pthread_once_t	 digest_once = PTHREAD_ONCE_INIT;

static void
digest_fetch(void)
{
	digest_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

const EVP_MD *
digest_sha256(void)
{
	pthread_once(&digest_once, digest_fetch);
	return (digest_md);
}
