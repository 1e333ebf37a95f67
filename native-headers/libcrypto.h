/* What jkvm binds from OpenSSL's libcrypto: AES-256-GCM through EVP, for the migration stream.
   scripts/gen-bindings runs jextract on this file with @libcrypto.jextract. */
#include <openssl/evp.h>
