/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * The checks of "hfgate -t" that need the file system or OpenSSL: the daemon itself
 * finds the same problems only once running (a cache off, an access log refused, a
 * TLS listener that does not start).
 */
#include <sys/stat.h>

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "preflight.h"

/* path, or the directory it would be created in, is writable. 0 or -1 with err. */
static int
preflight_writable(const char *what, const char *path, char *err, size_t errlen)
{
	char	*copy;
	const char *dir;
	struct stat st;
	int	 rc;

	if (access(path, F_OK) == 0) {
		if (access(path, W_OK) == 0)
			return (0);
		snprintf(err, errlen, "%s %s: %s", what, path, strerror(errno));
		return (-1);
	}
	if ((copy = strdup(path)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return (-1);
	}
	dir = dirname(copy);
	/* Not there yet is not wrong: the unit's StateDirectory= makes it at start. */
	if (stat(dir, &st) == -1 && errno == ENOENT) {
		fprintf(stderr, "hfgate: note: %s %s: %s does not exist yet\n", what,
		    path, dir);
		free(copy);
		return (0);
	}
	if ((rc = stat(dir, &st)) == 0 && !S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		rc = -1;
	}
	if (rc == 0)
		rc = access(dir, W_OK);
	if (rc == -1)
		snprintf(err, errlen, "%s %s: cannot be created (%s: %s)", what, path,
		    dir, strerror(errno));
	free(copy);
	return (rc);
}

/* The PEM private key belongs to the first certificate of the PEM chain. */
static int
preflight_tls(const char *cert_pem, const char *key_pem, char *err, size_t errlen)
{
	BIO		*cb = NULL, *kb = NULL;
	X509		*cert = NULL;
	EVP_PKEY	*key = NULL;
	int		 rc = -1;

	if ((cb = BIO_new_mem_buf(cert_pem, -1)) == NULL ||
	    (kb = BIO_new_mem_buf(key_pem, -1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	if ((cert = PEM_read_bio_X509(cb, NULL, NULL, NULL)) == NULL) {
		snprintf(err, errlen, "tls_cert: no PEM certificate in the file");
		goto done;
	}
	if ((key = PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL)) == NULL) {
		snprintf(err, errlen, "tls_key: no unencrypted PEM private key in the file");
		goto done;
	}
	if (X509_check_private_key(cert, key) != 1) {
		snprintf(err, errlen, "tls_key does not fit tls_cert's certificate");
		goto done;
	}
	rc = 0;
done:
	EVP_PKEY_free(key);
	X509_free(cert);
	BIO_free(kb);
	BIO_free(cb);
	return (rc);
}

int
preflight_config(const struct config *c, char *err, size_t errlen)
{
	const char	*usage = cfg_usage_db(c);

	if (c->cache_enabled && preflight_writable("cache db", c->cache_db, err, errlen) == -1)
		return (-1);
	if (c->usage_enabled && usage != NULL &&
	    preflight_writable("usage db", usage, err, errlen) == -1)
		return (-1);
	if (c->access_log != NULL && strcmp(c->access_log, "stderr") != 0 &&
	    strcmp(c->access_log, "off") != 0 &&
	    preflight_writable("access_log", c->access_log, err, errlen) == -1)
		return (-1);
	if (c->tls_cert != NULL && c->tls_key != NULL &&
	    preflight_tls(c->tls_cert, c->tls_key, err, errlen) == -1)
		return (-1);
	return (0);
}
