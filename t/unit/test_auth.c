/* test_auth.c: unit tests of the httpd-free auth core: dpc_b64, dpc_pkey,
 * dpc_jwt and dpc_token.
 *
 * Suites: b64_suite, pkey_suite, jwt_suite, token_suite (run by main.c).
 *
 * Test keys are embedded below so the suites run in well under a second;
 * only one test generates an RSA-4096 key (about 0.5-2 s), once per test
 * case, in an unchecked fixture.  They were made with OpenSSL 3.0 CLI:
 *
 *   openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:4096 -out rsa4096.pem
 *   openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out ec384.pem
 *   openssl pkey -in KEY.pem -pubout                      (SPKI public keys)
 *   openssl rsa -in rsa4096.pem -RSAPublicKey_out         (PKCS#1 public key)
 *   openssl req -x509 -new -key ec256.pem -subj /CN=test  (certificate)
 *   openssl pkey -in ec384.pem -aes256 -passout pass:secret (encrypted key)
 *
 * and the DPC proof-of-possession signatures exactly as the DPC docs have
 * users make them (snippet.txt holds the 53-byte snippet, no newline):
 *
 *   openssl dgst -sha256 -sign rsa4096.pem snippet.txt | base64
 *   openssl dgst -sha256 -sign ec384.pem snippet.txt | base64
 *
 * The known-answer JWTs are the published examples of the SMART App Launch
 * IG ("Example JWS generation for Asymmetric Client Auth",
 * authorization-example-jwks-and-signatures, and the worked example of
 * client-confidential-asymmetric), with the public JWKs published with them.
 * These keys are test keys only; never use them for anything else.
 */
#include <check.h>
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <apr_general.h>
#include <apr_hash.h>
#include <apr_pools.h>
#include <apr_strings.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "unit.h"
#include "dpc_b64.h"
#include "dpc_jwt.h"
#include "dpc_pkey.h"
#include "dpc_secret.h"
#include "dpc_token.h"

/* ====================================================================== */
/* test data                                                                */

static const char RSA4096_PRIV[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIIJQgIBADANBgkqhkiG9w0BAQEFAASCCSwwggkoAgEAAoICAQDAdvpiq79d7CsH\n"
    "et93eZbAW99SYrZ05j5pUEu0nOHMLbNxRy+mx4T5sil9YKgJJKHt9DjK3Cblgi9p\n"
    "j7N/Fq7Qhvw685nmepSCj+nNcnjkWSheXp/baf2Hbr7z/0DVFx0scMx9YyLTXqsf\n"
    "KAWFJkeZN1mzNctGlhF2758k3R/05umiIHy9DKoE8sTyDDTEjanVVAmSVgEFWm6k\n"
    "twmxNMRe0IpeXlGtvDXEPx4S0yzoIsWKjGMLjopMki+d8izf+EBg2bUxzXKDHzVu\n"
    "P6wubtgMNQGNYChuw74HVI6ZmjBooRoZ/7kAp77wjGR+YXfYXZ7pzegBlIpYKCgd\n"
    "m7hzpyHdFOT71oM5KZSaKFZy2YS1x8NNyyS+TXs43gKt0RsFOtmG1t8CgFIjJd9D\n"
    "OrYoXCEXozFOge1+NotIDXuVes32tLcKrJ3zmjVKAASnaBOHzbVNW5OXlHlJebuL\n"
    "AF61fvZb7p2f0RHWd+SuyzmZyb7QiuhLfnfb6jqZM6jdbQTdqj63LghoRo08Fb+m\n"
    "eLJ1XkkBaN27vk1jG9lR25qy1LGILcRSORNCt6ITuyeKcSuI5dVxDQ34Tz3aH+w5\n"
    "oM7SI0O0NZReqxHnkS7q7/cwVwA9JE18Lwyi35nIcWR6XLfKox4uq/776IZL2wb7\n"
    "ovHuUKa7VzQzClgMEjIAZ2dpJeLaXQIDAQABAoICAA4ZyW9oON2HO4HRSUUGFfri\n"
    "4EI3dDmtUr5BgUJqygo9AOwYNJAKBx6KJIsIhVciJXD7FxwZtAnVl2aq/hIeFdG2\n"
    "Sg2BonFl4rKMG6uPKvdD5va/BQQ8yDPfc8MJnPTfvCXw37KCDF+jDHN8aacfLli1\n"
    "2u8LzmhN/1qQ5L59KuW080ILEkiBgIVbSf2X0lfiLyKvhQIBJhL/1KJhvKaMgKSX\n"
    "r8OJMn/BjcjifPARI7WgMovbjDghCdXhUfbG8u230POnj6Rl8nFT3ITGynUebtq6\n"
    "GXKDrIKs+aOs2MO9LbXEs9Zay3GWWKFkD8rIllC2Tzm++bP/74DU9Fdy/LkQciUR\n"
    "YIq3nofZXjUaovaBAycgQfNkTS9nx9713RRpmbdMklOVGPB1GZGHu4rveZa7nlS6\n"
    "zc1mnhtj+2gnNn0oHfV6DVgl6qCocQQUHrySMN9i1UdDHfo+zqcxRnKMzovyYRCa\n"
    "1KcWDvImk3u27mdHIPAmyhG/tICtYiiWvrf2vGFX+X62gzl/paXMDLEDjS6LZYHC\n"
    "bO46pEycAu6hKihxui0OpUlTUf7uYObuvSWtdzoIzzuoMdd4yh3Ho7kP/Xzhb49/\n"
    "XfUwhuOeWtC97+QGboyeAGjCkW7x3AqHIE4K3u+zseqYkk0LkplkPptqZAnaXTcp\n"
    "diLfsGHuRl8aVjU88+NxAoIBAQDnc1oscvr0BA8jZYKqE3QbVvqNv6D1Vbu1Z/xC\n"
    "MPYrHBT3FEtprWzaCrxcOMcj/MrJpM+iNtKWrRaeqwdKz0BAatYz8EGrToq+eRiN\n"
    "jOlWraI735LT6mB0Tx1+otgeOaBoX9AugHTDZ66kaP/za5zdHJcYO0zoqvmWIqjD\n"
    "d2fJcU2dLxPJgzk92L5Iwpq2K25M1uGoDr2CppR+vlquH3t5O3MaYkZXNNhubzUz\n"
    "/Qx1Lqc3YtbszczOvia0sfTrOQUDF2H9VlCTgRUlvv5d0xLWxlAzKFZQlYFLKfr1\n"
    "oi+glfEMJ+KZ2bqodUolWQv6+hbjfAgSVxB4Q3PqMi3HfzWJAoIBAQDU4QgajGR+\n"
    "+om/fhz/0n+vguxnuWyFej/in75zh4IhU+xERBZxd4vCltSalvXvY0Z4pOCHEvzf\n"
    "1QPyhqOJAED/QB45dPZO44U2raumAw5Wyo/9wR151s7LD5zddcQ3Y7ifywZToX+x\n"
    "yeT29POlvfQdAKVnGlXo9tHDygpAVyc3lXkiRgP136CYzWQ+AImBKjqiUkKVbhyq\n"
    "JpNzXyam+jBG5bKKnSN9u6uoNQuMoOdWietSRQUldyOyS9BYV8kz3AksR3sRDrq6\n"
    "DOTCKWAMZKN9KkDpdef84GAKDz+03+KUnRJwQrZbup43Ew7Eq7fz/p2Jv/zOS+m7\n"
    "WGOOtLVEyl01AoIBAFhSY5nMsslFd0VpqkgerlL0iR5ofxLACaZ7LP9RUc83oyR6\n"
    "YSDNplk6eZCztgKcqAH026sqQohvOs+HsnuwxPMQEfe1+klV6oovCdiSakTCc8Nn\n"
    "WM93hCE+Q6IcoF5AXV8XGQl1yZj7yuBAlVOdwDl8fIgpsPqkrCPHzCDzQu7TRuvx\n"
    "mBpw8foQ6OQ5JvLXdfrqkSghn93olYgcOdxydRrZPd5WnEMRDnpuA554NTXOfM8c\n"
    "76lkC4DlfT29HxpYIvqABMu5EXyIaLqDvOuu7WR6PwaWoQGVW8aEGZl8r7IXJeoe\n"
    "mlFdjeZVA9tmtLSslOlwXmApS0apbuVzCpcziwkCggEAQB3jDfP5FNGrCXUXkOm6\n"
    "sYcyYu9TQ0SV11Eb0LogtJ8NS2ZiiBxkiOBa+pC7VDXHdPDb+3L5nQUQokxxFwNv\n"
    "kDGkqNOUmCAo8FYQm/jRqcxq4Bf5I8hSEpEKQx2EUtaDNgW1Sx0aU9cmUkdm1yXG\n"
    "T7HxH4OsGnW0qk7BFa3qTvCDQpJqAPUw7rT2G0KYJ8IrVNaH3XADzC/AO4COKL60\n"
    "KbZnNx6rIOSUiB4p81pHMyZpLSdCrI0cwEfbYbBXFnqQfLiu1W1lSkI16FED79ej\n"
    "8j/2uxpbHCwMYRtEqdrA6NgCRLOjLy+fFaF00kGSLzgiBOpBX3U32ch+e+3rpuN4\n"
    "fQKCAQEAxexjgmx26aGS1mBANXYSxidLc5eG4jfRapoYEM4wMHeK8teJwVufXOA5\n"
    "qRg/wRde0bor7fR9iE9jpc/Bcl/729oCFgBaLAMt2y4rPAkhXwPf1zb8+ADxoDX7\n"
    "D0FZHEK0SzCkvCbjwwuRMBCy03sGXJUvwOnB9SdAz4IDW57wBTnTNhKf38NMnqnY\n"
    "68/UIL6ElCpxaN41l00Z8I/dyOF7AoCHOzYBLU0+Hj34QU9HoK883CRDEdxuU6Y8\n"
    "8RMpwMyJDlZ1v9ggLzF0EEBCo2LvR0c2vL6mEHk3vFDADE54sy+GYBC6ZsRmsxh8\n"
    "3QciKaiydq3RwWXSEXdeOZcYzwV+Zw==\n"
    "-----END PRIVATE KEY-----\n";

static const char RSA4096_PUB[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEAwHb6Yqu/XewrB3rfd3mW\n"
    "wFvfUmK2dOY+aVBLtJzhzC2zcUcvpseE+bIpfWCoCSSh7fQ4ytwm5YIvaY+zfxau\n"
    "0Ib8OvOZ5nqUgo/pzXJ45FkoXl6f22n9h26+8/9A1RcdLHDMfWMi016rHygFhSZH\n"
    "mTdZszXLRpYRdu+fJN0f9ObpoiB8vQyqBPLE8gw0xI2p1VQJklYBBVpupLcJsTTE\n"
    "XtCKXl5Rrbw1xD8eEtMs6CLFioxjC46KTJIvnfIs3/hAYNm1Mc1ygx81bj+sLm7Y\n"
    "DDUBjWAobsO+B1SOmZowaKEaGf+5AKe+8IxkfmF32F2e6c3oAZSKWCgoHZu4c6ch\n"
    "3RTk+9aDOSmUmihWctmEtcfDTcskvk17ON4CrdEbBTrZhtbfAoBSIyXfQzq2KFwh\n"
    "F6MxToHtfjaLSA17lXrN9rS3Cqyd85o1SgAEp2gTh821TVuTl5R5SXm7iwBetX72\n"
    "W+6dn9ER1nfkrss5mcm+0IroS3532+o6mTOo3W0E3ao+ty4IaEaNPBW/pniydV5J\n"
    "AWjdu75NYxvZUduastSxiC3EUjkTQreiE7sninEriOXVcQ0N+E892h/sOaDO0iND\n"
    "tDWUXqsR55Eu6u/3MFcAPSRNfC8Mot+ZyHFkely3yqMeLqv+++iGS9sG+6Lx7lCm\n"
    "u1c0MwpYDBIyAGdnaSXi2l0CAwEAAQ==\n"
    "-----END PUBLIC KEY-----\n";

static const char RSA4096_PKCS1[] =
    "-----BEGIN RSA PUBLIC KEY-----\n"
    "MIICCgKCAgEAwHb6Yqu/XewrB3rfd3mWwFvfUmK2dOY+aVBLtJzhzC2zcUcvpseE\n"
    "+bIpfWCoCSSh7fQ4ytwm5YIvaY+zfxau0Ib8OvOZ5nqUgo/pzXJ45FkoXl6f22n9\n"
    "h26+8/9A1RcdLHDMfWMi016rHygFhSZHmTdZszXLRpYRdu+fJN0f9ObpoiB8vQyq\n"
    "BPLE8gw0xI2p1VQJklYBBVpupLcJsTTEXtCKXl5Rrbw1xD8eEtMs6CLFioxjC46K\n"
    "TJIvnfIs3/hAYNm1Mc1ygx81bj+sLm7YDDUBjWAobsO+B1SOmZowaKEaGf+5AKe+\n"
    "8IxkfmF32F2e6c3oAZSKWCgoHZu4c6ch3RTk+9aDOSmUmihWctmEtcfDTcskvk17\n"
    "ON4CrdEbBTrZhtbfAoBSIyXfQzq2KFwhF6MxToHtfjaLSA17lXrN9rS3Cqyd85o1\n"
    "SgAEp2gTh821TVuTl5R5SXm7iwBetX72W+6dn9ER1nfkrss5mcm+0IroS3532+o6\n"
    "mTOo3W0E3ao+ty4IaEaNPBW/pniydV5JAWjdu75NYxvZUduastSxiC3EUjkTQrei\n"
    "E7sninEriOXVcQ0N+E892h/sOaDO0iNDtDWUXqsR55Eu6u/3MFcAPSRNfC8Mot+Z\n"
    "yHFkely3yqMeLqv+++iGS9sG+6Lx7lCmu1c0MwpYDBIyAGdnaSXi2l0CAwEAAQ==\n"
    "-----END RSA PUBLIC KEY-----\n";

static const char RSA4096B_PUB[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIICIjANBgkqhkiG9w0BAQEFAAOCAg8AMIICCgKCAgEA1rkPNvpYQ2+EJ4cHx8i2\n"
    "m8Xuv6gMS1tCA818GjHhVArzU9EKU2ya+2qE4HB7z4Vx24FnqLZxKw875YEcK5Bz\n"
    "BeTY1zygl2lePLKQWSQeqknLda6PWWDYSG0mN9MNr7Ay4U2CjJmGQIdXIdx423CY\n"
    "tcqKDWPTVu4i7F8WNIJdl0H44KhTo/kDDRIk0Kkqa2o55XwHHnEQ2d0skMjxJqVo\n"
    "whHwTF9f8M3Mcio8N9FBFp5Qhf0xue06Ejc7v9txB8MRGvRwOCmfGZKnEZ0t1Q4Q\n"
    "CD6ZsLPta6h6ZQfNMUp5YTOuTkmVtCetv03J/QeIoW/w/AoPfzRaO5SoHpLouXzU\n"
    "5xjV5rZASoqqh1LvxfWmwpC/YN3oAM9REiI+xDLd5JrWlqqOTcBGu2nqQuQOasQK\n"
    "JUDrxStWQtSZ/PHSX2WHvn/XlufQ4VPszXbTWlm0XFeCptnMh/B5yuZKkT9IOLAs\n"
    "C+FXbjLeMFymgWNox4FAEvL/FfYI5nAsGcqkNiMpvmsA0CHd6FSLFKsjL83wLqv8\n"
    "qcafhG9JMqU0kTb0YhQajVagbEBIljGv4fAuGU8HcQ92uzBupOf9AnpXbKoeBxH0\n"
    "PRv7txCBVvnovml224jjUqDyBLKAFHvkEvQDA7+Jd6nHPqQpERlT/LMSpH/2wddh\n"
    "vTUOYgQ2cM2VNXN9mkyM3IkCAwEAAQ==\n"
    "-----END PUBLIC KEY-----\n";

static const char EC384_PRIV[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDAHriN8IGB6IVa2F1z1\n"
    "tjT74CVl45qXmRogmck+o1pelXj8zzIl+stvWbxYjFyj8y6hZANiAATha0wDvw/H\n"
    "Wfk/QucaVLpzdAQChSQH3K7l/Ino1l5VdzIIcDWweOM3gv5xF66tsHYbpbOyKxt1\n"
    "vEftA60nQvUdMSvUvhBKkFuJCBmhg6IJc1cUhKcViraniniwvTTly9Y=\n"
    "-----END PRIVATE KEY-----\n";

static const char EC384_PUB[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAE4WtMA78Px1n5P0LnGlS6c3QEAoUkB9yu\n"
    "5fyJ6NZeVXcyCHA1sHjjN4L+cReurbB2G6WzsisbdbxH7QOtJ0L1HTEr1L4QSpBb\n"
    "iQgZoYOiCXNXFISnFYq2p4p4sL005cvW\n"
    "-----END PUBLIC KEY-----\n";

static const char EC384B_PUB[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEf4F0Mg42ECxO5vYQo3w7xoT9CNJPSfoR\n"
    "Itgw01F+Htg+1Ogfo/2ZcqUYgHtKi1I91eaCers2EXT01v9pgEIGRJRA2ChGDtrp\n"
    "ewY05HoNHME5aewUl1kZlQmzNBE/snsc\n"
    "-----END PUBLIC KEY-----\n";

static const char RSA2048_PUB[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAsKChHqbz51XNpiQceuPn\n"
    "L8G4il/Ka8gcABDe7ljf1RWCXbdxvNyH4B79gx8L0tg5gWdY9B0799gIGshJS08/\n"
    "bIrXPxOiSx7pLTHDvxeEC3WWzDHF7glxqO6gYL2U3H6Xumg/1L0hDJxUZgn/w+wz\n"
    "Bd6c5HhaGuWrokrMLjcg2ZLrNUov//o/YjUlGKpcZaDmfP5Acjn91wUPSE+HHZw/\n"
    "PTPug1FXI+4xBysXeFO8wEj1cI+8bztWvPoI4CiZdbJyLILTLqMN/eTqleqKxOT9\n"
    "jrxgomNOWYpEU0FYAIcc2NQl+zNzDzkKVA7i+i7VEFJM58v4n7pUrAq+QQun1Hz+\n"
    "6wIDAQAB\n"
    "-----END PUBLIC KEY-----\n";

static const char EC256_PRIV[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgRRm+vE4gswhxUOyC\n"
    "wyhg9shcuiyKGbhBid3Z2iCzlqehRANCAASdn8REla/+gqbsJS5Qu49dOm8ZGRoW\n"
    "uGogeRD4IqUkestiTVAsq47UcGzl84xlzE1IcwkzqGIvbyq1mxxq4fWA\n"
    "-----END PRIVATE KEY-----\n";

static const char EC256_PUB[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEnZ/ERJWv/oKm7CUuULuPXTpvGRka\n"
    "FrhqIHkQ+CKlJHrLYk1QLKuO1HBs5fOMZcxNSHMJM6hiL28qtZscauH1gA==\n"
    "-----END PUBLIC KEY-----\n";

static const char ED25519_PUB[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAjXAbTiyHbl2psEDwss4rWSR0r+LndHslSwywzOm6FxI=\n"
    "-----END PUBLIC KEY-----\n";

static const char CERT_PEM[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBczCCARmgAwIBAgIUc9tdMkuf59glAUeG8o6dAuKqzrwwCgYIKoZIzj0EAwIw\n"
    "DzENMAsGA1UEAwwEdGVzdDAeFw0yNjExMjIxMzI1NTJaFw0yNjExMjMxMzI1NTJa\n"
    "MA8xDTALBgNVBAMMBHRlc3QwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAASdn8RE\n"
    "la/+gqbsJS5Qu49dOm8ZGRoWuGogeRD4IqUkestiTVAsq47UcGzl84xlzE1Icwkz\n"
    "qGIvbyq1mxxq4fWAo1MwUTAdBgNVHQ4EFgQUpMe7OsZh1o+FvhJmm6c0wGvAyvYw\n"
    "HwYDVR0jBBgwFoAUpMe7OsZh1o+FvhJmm6c0wGvAyvYwDwYDVR0TAQH/BAUwAwEB\n"
    "/zAKBggqhkjOPQQDAgNIADBFAiEA7NWUJf5wI4L87ZBV2FX7UhTOfUfsL1x5TMxV\n"
    "dr3umnQCIDv2yjMNaFnipBH+Ko+43s2ADVEdze2GUhh1iRiojzaU\n"
    "-----END CERTIFICATE-----\n";

static const char EC384_ENC_PRIV[] =
    "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
    "MIIBHDBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQIesM2DiIWKagCAggA\n"
    "MAwGCCqGSIb3DQIJBQAwHQYJYIZIAWUDBAEqBBD9x4+Tp6ydvaVnHI+Ht5D3BIHA\n"
    "OQYXjMIIv//ghxmsX8pa8tnc/4/UdJqdv/f90wzFPvxPFNySIK+4Ao1yyOMOcZdk\n"
    "l8P1g/n4WqIrBS/MmXTTDQTCtLBdnuSIGbRf9m4xhlzlRUyhrbg7vRM7QJvBc3GP\n"
    "Ug2lE+gY6/FJQoIbAsJTz8SDqniXv5DYupD/iq/IVjcU3kAGkZIxO7N/8C4A3VVZ\n"
    "fBGFx5Ks73csL/XhoHfonYQbT/AEivEAm98Wb9uCPGGXnqDL1LV7VGeWFdm2knCC\n"
    "-----END ENCRYPTED PRIVATE KEY-----\n";

static const char RSA4096_POP_SIG[] =
    "mucqPw0uX88cApYD5oPFY8Cx7TxHZkN+A4voIgKjMrMcX1AEbLw6OLUHBGtXO+UqqNwqlvXfmZLC\n"
    "07nR/+XGl906QYIBlSAgxdNjomJzha5z9GL6iv2pOxuO5hPeN1jVozBUCYS8FQ0QWiN08hXbsKOZ\n"
    "Mbkxq7gLBq7Dr7JY1pSKksJR3k7RWMMNF7oC8P+3IFnTqE8LN3MkVSP0C3eiEopyJrdQq2kBVVMv\n"
    "3von1v+z2gBviTyLrLuiTcefrr/ogjHEyLZ3K+Kf251xCKo6DXLyHcVKuCrc9SRPkcWXpBrmT6lO\n"
    "nQavnOuyJh1dJbvTQijtY0RiQz628V0E8iSPAdcJWyHgS3OgRzP/STDrqvFmv2YrBxbAvbNc1aNR\n"
    "9ugE9885XFlHqozL5TDT2kuldEOmb17vp1zKBDY62Psi+KF0aO2vtS0rJPh0jkmO+AD7JSGup5ZJ\n"
    "LAAgpe6igldM3O3oW1GezNJIvA0D2Pi1yOhbi293zbZ5nAjtFk9GTCMVaQOJzd1WOb7w/fSnTnJ9\n"
    "fCMFTkg7vsOhBdy7FNV2FGsm6ZR+xJNTZ/2Ve2+499x14cXO4o3ktRLSzuuquR+fYppRbIzhAttG\n"
    "Clvk3YoX9njxegeIPoKDzAI2TsKM/zAIQn8zg5gZBFmTQk77MI3MpOkTB6O9VsLMtBWQjbwtr78=\n";

static const char EC384_POP_SIG[] =
    "MGQCMH/3uL/hPvSB8pzIA8ZPKeUS2f8Mj/zyL4Yzj4nYP9R5d+oP0ndOrPq1vlxqYjuiMAIwXUod\n"
    "1AppPc/t7AWpGvsrImAkSKZ3iBN6+9O9mE+pU2Uv6BLxxh17wVL5mHvgno1H\n";

/* SMART App Launch IG, client-confidential-asymmetric worked example and
 * authorization-example-jwks-and-signatures: RS384 public JWK and JWT. */
static const char SMART_RS384_JWK[] =
    "{\"kty\": \"RSA\", \"alg\": \"RS384\","
    " \"n\": \"wJq2RHIA-7RT6q4go7wjcbHdW7ck7Kz22A8wf-kN7Wi5CWvhFG2_Y7nQp1lDp"
    "b2IKMQr-Q4n_vgJ6d5rWPspJpSPY7iffUK4ipQCEbzID5DJ6fQMBZOfCTXyxkuMh3jYG"
    "KEF3Ziw2oxbM1H9j-eJAPtrj5stUG6kVoXowegdox-bSjWP0iI5PnkwUNzcekLMug4M3"
    "LRluEQgGR9O_BAML6-w3igZ_rZA_gunyrLAMbfmCVaceW5ohLp679kyM7U6W2gDK_Nbk"
    "DKcINUakVmPeoG5h8RzgGzvGrySR0k0VDFiZv60Ua07DqHTeDGH9e4NV07AECae-oykI"
    "j5NDCs3pw\","
    " \"e\": \"AQAB\", \"key_ops\": [\"verify\"], \"ext\": true,"
    " \"kid\": \"eee9f17a3b598fd86417a980b591fbe6\"}";

static const char SMART_RS384_JWT[] =
    "eyJhbGciOiJSUzM4NCIsImtpZCI6ImVlZTlmMTdhM2I1OThmZDg2NDE3YTk4MGI1OTFm"
    "YmU2IiwidHlwIjoiSldUIn0"
    ".eyJpc3MiOiJodHRwczovL2JpbGktbW9uaXRvci5leGFtcGxlLmNvbSIsInN1YiI6Imh"
    "0dHBzOi8vYmlsaS1tb25pdG9yLmV4YW1wbGUuY29tIiwiYXVkIjoiaHR0cHM6Ly9hdXR"
    "ob3JpemUuc21hcnRoZWFsdGhpdC5vcmcvdG9rZW4iLCJleHAiOjE0MjI1Njg4NjAsImp"
    "0aSI6InJhbmRvbS1ub24tcmV1c2FibGUtand0LWlkLTEyMyJ9"
    ".D5kAqNJwaftCqsRdVVQDq6dMBxuGFOF5svQJuXbcYp-oEyg5qOwK9ZE5cGLTHxqwfpU"
    "PNzRKgVdIGuhawAA-8g0s1nKQae8CuKs33hhKh4J34xSEwW3MYs1gwI4GHTtR_g3kYSX"
    "6QCi14Ed3GIAvYFgqRqt-gD7sewMUXL4SB8I8cXcDbCqVizm7uPVhjw6QaeKZygJJ_AV"
    "LhM4Xs9LTy4HAhdCHpN0FrNmCerUIYJvHDpcod7A0jDmxdoeW1KIBYlhdhQNwjtsTvT1"
    "ce4qacN_3KIv_fIzCKLIgDv9eWxkjAtxOmIm8aW5gX9xX7X0nbd0QglIyiic_bZVNNEh"
    "0kg";

/* The same IG page's ES384 example (kid cd520211...), P-384 public JWK. */
static const char SMART_ES384_JWK[] =
    "{\"kty\": \"EC\", \"crv\": \"P-384\","
    " \"x\": \"pyqburM9y8HPcFhNosDW6ngoVEJitqXi_HJgI5hYqX21PoFDwCbYirGy_o0oa"
    "pIU\","
    " \"y\": \"95bxkCnMKoHvgbcPAIAcgzzu8scd81mXfM_IzuJFNfkUNkGYBFGvuEU1KPi5j"
    "1ob\","
    " \"key_ops\": [\"verify\"], \"ext\": true,"
    " \"kid\": \"cd520211e5661dbba2256f67f6d53f97\", \"alg\": \"ES384\"}";

static const char SMART_ES384_JWT[] =
    "eyJhbGciOiJFUzM4NCIsImtpZCI6ImNkNTIwMjExZTU2NjFkYmJhMjI1NmY2N2Y2ZDUz"
    "Zjk3IiwidHlwIjoiSldUIn0"
    ".eyJpc3MiOiJodHRwczovL2JpbGktbW9uaXRvci5leGFtcGxlLmNvbSIsInN1YiI6Imh"
    "0dHBzOi8vYmlsaS1tb25pdG9yLmV4YW1wbGUuY29tIiwiYXVkIjoiaHR0cHM6Ly9hdXR"
    "ob3JpemUuc21hcnRoZWFsdGhpdC5vcmcvdG9rZW4iLCJleHAiOjE0MjI1Njg4NjAsImp"
    "0aSI6InJhbmRvbS1ub24tcmV1c2FibGUtand0LWlkLTEyMyJ9"
    ".ddl5N8dt5PYI_7syKg_dm1wj1LR3dYVztFlTODs6pU1vKH1Zv3d9NctbnAsZ4aZ1K7H"
    "E83_fA_hIAL0JsU1GoB7roLmrpj8zfygG9Q1ZBAmKNoR60pyONPZsGTihoR29";

#define SMART_AUD "https://authorize.smarthealthit.org/token"
#define SMART_CLIENT "https://bili-monitor.example.com"
#define SMART_EXP 1422568860

/* ====================================================================== */
/* fixtures and helpers                                                     */

static apr_pool_t *pool;

static void setup(void)
{
    apr_initialize();           /* reference counted: safe with main.c's */
    apr_pool_create(&pool, NULL);
}

static void teardown(void)
{
    apr_pool_destroy(pool);
    apr_terminate();
    /* Every API promises to leave the OpenSSL error queue empty. */
    ck_assert_msg(ERR_peek_error() == 0, "OpenSSL error queue not empty");
}

static TCase *tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup, teardown);
    return tc;
}

#define ck_assert_contains(hay, needle)                                     \
    ck_assert_msg((hay) && strstr((hay), (needle)) != NULL,                 \
                  "\"%s\" does not contain \"%s\"", (hay) ? (hay) : "(null)", \
                  (needle))

static const char *b64u(const char *s)
{
    return dpc_b64url_encode(pool, (const unsigned char *)s, strlen(s));
}

/* ====================================================================== */
/* dpc_b64                                                                  */

/* RFC 4648 section 10 test vectors. */
static const char *const rfc_in[] = { "", "f", "fo", "foo", "foob", "fooba",
                                      "foobar" };
static const char *const rfc_std[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==",
                                       "Zm9vYmE=", "Zm9vYmFy" };
static const char *const rfc_url[] = { "", "Zg", "Zm8", "Zm9v", "Zm9vYg",
                                       "Zm9vYmE", "Zm9vYmFy" };

static int url_rejects(const char *s)
{
    unsigned char *out;
    apr_size_t n;
    return dpc_b64url_decode(pool, s, strlen(s), &out, &n) == APR_EINVAL;
}

static int std_rejects(const char *s)
{
    unsigned char *out;
    apr_size_t n;
    return dpc_b64_decode(pool, s, strlen(s), &out, &n) == APR_EINVAL;
}

START_TEST(b64url_rfc4648_vectors)
{
    size_t i;
    for (i = 0; i < sizeof(rfc_in) / sizeof(rfc_in[0]); i++) {
        unsigned char *out;
        apr_size_t n;
        ck_assert_str_eq(b64u(rfc_in[i]), rfc_url[i]);
        ck_assert_uint_eq(dpc_b64url_encoded_len(strlen(rfc_in[i])),
                          strlen(rfc_url[i]));
        ck_assert_int_eq(dpc_b64url_decode(pool, rfc_url[i],
                                           strlen(rfc_url[i]), &out, &n),
                         APR_SUCCESS);
        ck_assert_uint_eq(n, strlen(rfc_in[i]));
        ck_assert_str_eq((char *)out, rfc_in[i]);   /* NUL-terminated */
    }
}
END_TEST

START_TEST(b64url_url_alphabet)
{
    const unsigned char in[] = { 0xfb, 0xff, 0xbf };
    ck_assert_str_eq(dpc_b64url_encode(pool, in, 3), "-_-_");
    ck_assert_str_eq(dpc_b64_encode(pool, in, 3), "+/+/");
}
END_TEST

START_TEST(b64url_roundtrip_all_lengths)
{
    unsigned char buf[70], *out;
    apr_size_t len, n;
    for (len = 0; len <= sizeof(buf); len++) {
        const char *enc;
        ck_assert_int_eq(dpc_random_bytes(buf, len), APR_SUCCESS);
        enc = dpc_b64url_encode(pool, buf, len);
        ck_assert_uint_eq(strlen(enc), dpc_b64url_encoded_len(len));
        ck_assert_int_eq(dpc_b64url_decode(pool, enc, strlen(enc), &out, &n),
                         APR_SUCCESS);
        ck_assert_uint_eq(n, len);
        ck_assert(memcmp(out, buf, len) == 0);
    }
}
END_TEST

START_TEST(b64url_rejects_padding)
{
    ck_assert(url_rejects("Zg=="));
    ck_assert(url_rejects("Zm8="));
    ck_assert(url_rejects("Zg=a"));
}
END_TEST

START_TEST(b64url_rejects_std_alphabet)
{
    ck_assert(url_rejects("+/+/"));
    ck_assert(url_rejects("ab+c"));
    ck_assert(url_rejects("ab/c"));
}
END_TEST

START_TEST(b64url_rejects_whitespace_and_junk)
{
    ck_assert(url_rejects("Zm9v Yg"));
    ck_assert(url_rejects("Zm9v\nYg"));
    ck_assert(url_rejects("Zm9v."));
    ck_assert(url_rejects("Zm9v\x80"));
    ck_assert(url_rejects("Zm9v\xff"));
}
END_TEST

START_TEST(b64url_rejects_impossible_length)
{
    ck_assert(url_rejects("Z"));
    ck_assert(url_rejects("Zm9vY"));
}
END_TEST

START_TEST(b64url_rejects_nonzero_trailing_bits)
{
    /* "Zg" is "f"; "Zh".."Zv" decode to the same byte with junk bits. */
    ck_assert(!url_rejects("Zg"));
    ck_assert(url_rejects("Zh"));
    ck_assert(url_rejects("Zm9"));
    ck_assert(!url_rejects("Zm8"));
}
END_TEST

START_TEST(b64url_decode_embedded_nul_length)
{
    /* Decoding uses the given length, not the C string. */
    unsigned char *out;
    apr_size_t n;
    ck_assert_int_eq(dpc_b64url_decode(pool, "Zm9vYmFy", 4, &out, &n),
                     APR_SUCCESS);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq((char *)out, "foo");
}
END_TEST

START_TEST(b64_std_vectors)
{
    size_t i;
    for (i = 0; i < sizeof(rfc_in) / sizeof(rfc_in[0]); i++) {
        unsigned char *out;
        apr_size_t n;
        ck_assert_str_eq(dpc_b64_encode(pool, (const unsigned char *)rfc_in[i],
                                        strlen(rfc_in[i])), rfc_std[i]);
        ck_assert_int_eq(dpc_b64_decode(pool, rfc_std[i], strlen(rfc_std[i]),
                                        &out, &n), APR_SUCCESS);
        ck_assert_uint_eq(n, strlen(rfc_in[i]));
        ck_assert_str_eq((char *)out, rfc_in[i]);
    }
}
END_TEST

START_TEST(b64_std_tolerates_wrapping_and_no_padding)
{
    unsigned char *out;
    apr_size_t n;
    const char *wrapped = " Zm9v\r\nYmFy\n Zg==\n";
    ck_assert_int_eq(dpc_b64_decode(pool, wrapped, strlen(wrapped), &out, &n),
                     APR_SUCCESS);
    ck_assert_uint_eq(n, 7);
    ck_assert(memcmp(out, "foobarf", 7) == 0);
    ck_assert_int_eq(dpc_b64_decode(pool, "Zm9vYg", 6, &out, &n), APR_SUCCESS);
    ck_assert_uint_eq(n, 4);
}
END_TEST

START_TEST(b64_std_rejects_bad_padding_and_chars)
{
    ck_assert(std_rejects("Zg=a"));     /* data after padding */
    ck_assert(std_rejects("Zg="));      /* padding short */
    ck_assert(std_rejects("Zg==="));    /* padding long */
    ck_assert(std_rejects("Zm9v="));    /* padding where none belongs */
    ck_assert(std_rejects("-_-_"));     /* url alphabet */
    ck_assert(std_rejects("Zm9v!"));
    ck_assert(std_rejects("Z"));
}
END_TEST

START_TEST(hex_encode_known)
{
    const unsigned char in[] = { 0x00, 0x01, 0xab, 0xff };
    ck_assert_str_eq(dpc_hex_encode(pool, in, 4), "0001abff");
    ck_assert_str_eq(dpc_hex_encode(pool, in, 0), "");
}
END_TEST

Suite *b64_suite(void)
{
    Suite *s = suite_create("b64");
    TCase *tc = tcase("b64");

    tcase_add_test(tc, b64url_rfc4648_vectors);
    tcase_add_test(tc, b64url_url_alphabet);
    tcase_add_test(tc, b64url_roundtrip_all_lengths);
    tcase_add_test(tc, b64url_rejects_padding);
    tcase_add_test(tc, b64url_rejects_std_alphabet);
    tcase_add_test(tc, b64url_rejects_whitespace_and_junk);
    tcase_add_test(tc, b64url_rejects_impossible_length);
    tcase_add_test(tc, b64url_rejects_nonzero_trailing_bits);
    tcase_add_test(tc, b64url_decode_embedded_nul_length);
    tcase_add_test(tc, b64_std_vectors);
    tcase_add_test(tc, b64_std_tolerates_wrapping_and_no_padding);
    tcase_add_test(tc, b64_std_rejects_bad_padding_and_chars);
    tcase_add_test(tc, hex_encode_known);
    suite_add_tcase(s, tc);
    return s;
}

/* ====================================================================== */
/* dpc_pkey                                                                 */

/* sha256 of the DER SPKI, from `openssl pkey -pubin -outform DER | sha256sum` */
#define RSA4096_FPR \
    "2aea2d95386dbacc53680168d10af47ed9260ddd04ea6c9f7df92b16ff740d27"
#define EC384_FPR \
    "79b1b29afbd6a6a96ab676b3f42f1872dd2f28db74bfdccd7dcbbcd1a6b7e7c2"

static dpc_pkey_t *pub(const char *pem)
{
    dpc_pkey_t *key = NULL;
    const char *msg = NULL;
    ck_assert_msg(dpc_pkey_from_pem(pool, pem, strlen(pem), &key, &msg)
                  == DPC_PKEY_OK, "from_pem: %s", msg);
    return key;
}

static EVP_PKEY *priv(const char *pem)
{
    EVP_PKEY *pkey = NULL;
    const char *msg = NULL;
    ck_assert_msg(dpc_pkey_private_from_pem(pool, pem, strlen(pem), &pkey,
                                            &msg) == DPC_PKEY_OK,
                  "private_from_pem: %s", msg);
    return pkey;
}

static dpc_pkey_err_e parse_err(const char *pem, int min, const char **msg)
{
    dpc_pkey_t *key = (dpc_pkey_t *)1;
    dpc_pkey_err_e rv = dpc_pkey_parse(pool, pem, strlen(pem), min, &key, msg);
    if (rv != DPC_PKEY_OK)
        ck_assert_ptr_null(key);
    return rv;
}

START_TEST(pkey_rsa4096_spki)
{
    dpc_pkey_t *key = NULL;
    const char *msg = NULL;
    ck_assert_int_eq(dpc_pkey_parse(pool, RSA4096_PUB, strlen(RSA4096_PUB), 0,
                                    &key, &msg), DPC_PKEY_OK);
    ck_assert_int_eq(key->alg, DPC_ALG_RS384);
    ck_assert_int_eq(key->bits, 4096);
    ck_assert_str_eq(key->kty, "RSA");
    ck_assert_ptr_null(key->curve);
    ck_assert_str_eq(key->fingerprint, RSA4096_FPR);
    ck_assert_str_eq(key->pem, RSA4096_PUB);    /* canonical form = input */
}
END_TEST

START_TEST(pkey_rsa4096_pkcs1_same_fingerprint)
{
    dpc_pkey_t *key = NULL;
    const char *msg = NULL;
    ck_assert_int_eq(dpc_pkey_parse(pool, RSA4096_PKCS1, strlen(RSA4096_PKCS1),
                                    0, &key, &msg), DPC_PKEY_OK);
    ck_assert_int_eq(key->alg, DPC_ALG_RS384);
    ck_assert_str_eq(key->fingerprint, RSA4096_FPR);
    ck_assert_str_eq(key->pem, RSA4096_PUB);    /* re-encoded as SPKI */
}
END_TEST

START_TEST(pkey_ec384)
{
    dpc_pkey_t *key = NULL;
    const char *msg = NULL;
    ck_assert_int_eq(dpc_pkey_parse(pool, EC384_PUB, strlen(EC384_PUB), 0,
                                    &key, &msg), DPC_PKEY_OK);
    ck_assert_int_eq(key->alg, DPC_ALG_ES384);
    ck_assert_str_eq(key->kty, "EC");
    ck_assert_str_eq(key->curve, "secp384r1");
    ck_assert_int_eq(key->bits, 384);
    ck_assert_str_eq(key->fingerprint, EC384_FPR);
}
END_TEST

START_TEST(pkey_fingerprints_differ)
{
    ck_assert_str_ne(pub(RSA4096_PUB)->fingerprint,
                     pub(RSA4096B_PUB)->fingerprint);
    ck_assert_str_ne(pub(EC384_PUB)->fingerprint, pub(EC384B_PUB)->fingerprint);
}
END_TEST

START_TEST(pkey_whitespace_around_ok)
{
    const char *pem = apr_pstrcat(pool, "\r\n  \t", EC384_PUB, "\n\n  ", NULL);
    ck_assert_str_eq(pub(pem)->fingerprint, EC384_FPR);
}
END_TEST

START_TEST(pkey_rsa2048_too_small)
{
    const char *msg = NULL;
    ck_assert_int_eq(parse_err(RSA2048_PUB, 0, &msg), DPC_PKEY_TOO_SMALL);
    ck_assert_str_eq(msg, "RSA key of 2048 bits is below the minimum of "
                     "4096 bits");
}
END_TEST

START_TEST(pkey_rsa2048_ok_with_lower_minimum)
{
    const char *msg = NULL;
    ck_assert_int_eq(parse_err(RSA2048_PUB, 2048, &msg), DPC_PKEY_OK);
    ck_assert_int_eq(parse_err(RSA4096_PUB, 8192, &msg), DPC_PKEY_TOO_SMALL);
    ck_assert_str_eq(msg, "RSA key of 4096 bits is below the minimum of "
                     "8192 bits");
}
END_TEST

START_TEST(pkey_rsa_too_large)
{
    /* A 17000-bit "modulus" (odd, random): parses, refused by policy. */
    unsigned char n[2125];
    BIGNUM *bn = NULL, *e = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    EVP_PKEY *pkey = NULL;
    const char *pem = NULL, *msg = NULL;

    ck_assert_int_eq(dpc_random_bytes(n, sizeof(n)), APR_SUCCESS);
    n[0] |= 0x80;
    n[sizeof(n) - 1] |= 1;
    bn = BN_bin2bn(n, sizeof(n), NULL);
    e = BN_new();
    BN_set_word(e, 65537);
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn);
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
    params = OSSL_PARAM_BLD_to_param(bld);
    ck_assert(EVP_PKEY_fromdata_init(ctx) == 1);
    ck_assert(EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params)
              == 1);
    dpc_pkey_pool_own(pool, pkey);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    BN_free(bn);
    BN_free(e);
    ck_assert_int_eq(dpc_pkey_public_pem(pool, pkey, &pem, &msg),
                     DPC_PKEY_OK);
    ck_assert_int_eq(parse_err(pem, 0, &msg), DPC_PKEY_TOO_LARGE);
    ck_assert_str_eq(msg, "RSA key of 17000 bits is above the maximum of "
                     "16384 bits");
}
END_TEST

START_TEST(pkey_ec256_wrong_curve)
{
    const char *msg = NULL;
    ck_assert_int_eq(parse_err(EC256_PUB, 0, &msg), DPC_PKEY_BAD_CURVE);
    ck_assert_str_eq(msg, "EC curve prime256v1 is not P-384");
    ck_assert_int_eq(pub(EC256_PUB)->alg, DPC_ALG_UNKNOWN);
}
END_TEST

START_TEST(pkey_ed25519_unsupported)
{
    const char *msg = NULL;
    ck_assert_int_eq(parse_err(ED25519_PUB, 0, &msg), DPC_PKEY_UNSUPPORTED);
    ck_assert_contains(msg, "ED25519");
    ck_assert_contains(msg, "not supported");
}
END_TEST

START_TEST(pkey_not_pem)
{
    const char *msg = NULL;
    ck_assert_int_eq(parse_err("hello world", 0, &msg), DPC_PKEY_NOT_PEM);
    ck_assert_contains(msg, "not a PEM public key");
    ck_assert_int_eq(parse_err("", 0, &msg), DPC_PKEY_NOT_PEM);
    ck_assert_contains(msg, "not a PEM public key");
}
END_TEST

START_TEST(pkey_private_key_refused)
{
    const char *msg = NULL;
    ck_assert_int_eq(parse_err(EC384_PRIV, 0, &msg), DPC_PKEY_NOT_PEM);
    ck_assert_contains(msg, "private key");
}
END_TEST

START_TEST(pkey_certificate_refused)
{
    const char *msg = NULL;
    ck_assert_int_eq(parse_err(CERT_PEM, 0, &msg), DPC_PKEY_NOT_PEM);
    ck_assert_contains(msg, "certificate");
}
END_TEST

START_TEST(pkey_two_blocks_refused)
{
    const char *msg = NULL;
    const char *two = apr_pstrcat(pool, EC384_PUB, EC384B_PUB, NULL);
    ck_assert_int_eq(parse_err(two, 0, &msg), DPC_PKEY_NOT_PEM);
    ck_assert_contains(msg, "exactly one key");
}
END_TEST

START_TEST(pkey_text_before_refused)
{
    const char *msg = NULL;
    const char *pem = apr_pstrcat(pool, "my key:\n", EC384_PUB, NULL);
    ck_assert_int_eq(parse_err(pem, 0, &msg), DPC_PKEY_NOT_PEM);
}
END_TEST

START_TEST(pkey_corrupt_body_refused)
{
    const char *msg = NULL;
    char *pem = apr_pstrdup(pool, EC384_PUB);
    pem[40] = '!';              /* not base64 */
    ck_assert_int_eq(parse_err(pem, 0, &msg), DPC_PKEY_NOT_PEM);
    pem = apr_pstrdup(pool, EC384_PUB);
    pem[30] = pem[30] == 'A' ? 'B' : 'A';   /* valid base64, broken DER */
    ck_assert_int_eq(parse_err(pem, 0, &msg), DPC_PKEY_NOT_PEM);
}
END_TEST

START_TEST(pkey_truncated_refused)
{
    const char *msg = NULL;
    const char *pem = apr_pstrndup(pool, EC384_PUB, strlen(EC384_PUB) - 30);
    ck_assert_int_eq(parse_err(pem, 0, &msg), DPC_PKEY_NOT_PEM);
}
END_TEST

START_TEST(pkey_pop_openssl_cli_rsa)
{
    const char *msg = NULL;
    dpc_pkey_err_e rv = dpc_pkey_verify_pop(pool, pub(RSA4096_PUB)->pkey,
                                            RSA4096_POP_SIG, &msg);
    ck_assert_msg(rv == DPC_PKEY_OK, "%s", msg);
}
END_TEST

START_TEST(pkey_pop_openssl_cli_ec)
{
    const char *msg = NULL;
    dpc_pkey_err_e rv = dpc_pkey_verify_pop(pool, pub(EC384_PUB)->pkey,
                                            EC384_POP_SIG, &msg);
    ck_assert_msg(rv == DPC_PKEY_OK, "%s", msg);
}
END_TEST

START_TEST(pkey_pop_wrong_key)
{
    const char *msg = NULL;
    ck_assert_int_eq(dpc_pkey_verify_pop(pool, pub(RSA4096B_PUB)->pkey,
                                         RSA4096_POP_SIG, &msg),
                     DPC_PKEY_BAD_SIGNATURE);
    ck_assert_int_eq(dpc_pkey_verify_pop(pool, pub(EC384B_PUB)->pkey,
                                         EC384_POP_SIG, &msg),
                     DPC_PKEY_BAD_SIGNATURE);
    ck_assert_contains(msg, "does not verify");
}
END_TEST

START_TEST(pkey_pop_wrong_text)
{
    /* A signature over the snippet plus a newline (what `echo` would
     * write into snippet.txt) is not a signature over the snippet. */
    const char *sig = NULL, *msg = NULL;
    EVP_PKEY *key = priv(EC384_PRIV);
    const char *text = DPC_PKEY_SNIPPET "\n";
    ck_assert_int_eq(dpc_pkey_sign_sha256(pool, key, text, strlen(text), &sig,
                                          &msg), DPC_PKEY_OK);
    ck_assert_int_eq(dpc_pkey_verify_pop(pool, key, sig, &msg),
                     DPC_PKEY_BAD_SIGNATURE);
}
END_TEST

START_TEST(pkey_pop_tampered_signature)
{
    const char *msg = NULL;
    char *sig = apr_pstrdup(pool, RSA4096_POP_SIG);
    sig[10] = sig[10] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(dpc_pkey_verify_pop(pool, pub(RSA4096_PUB)->pkey, sig,
                                         &msg), DPC_PKEY_BAD_SIGNATURE);
}
END_TEST

START_TEST(pkey_pop_not_base64)
{
    const char *msg = NULL;
    EVP_PKEY *key = pub(RSA4096_PUB)->pkey;
    ck_assert_int_eq(dpc_pkey_verify_pop(pool, key, "not base64!", &msg),
                     DPC_PKEY_BAD_SIGNATURE);
    ck_assert_contains(msg, "base64");
    ck_assert_int_eq(dpc_pkey_verify_pop(pool, key, "", &msg),
                     DPC_PKEY_BAD_SIGNATURE);
    ck_assert_int_eq(dpc_pkey_verify_pop(pool, key, NULL, &msg),
                     DPC_PKEY_BAD_SIGNATURE);
}
END_TEST

static const char *strip_ws(const char *in)
{
    char *out = apr_palloc(pool, strlen(in) + 1), *o = out;
    for (; *in; in++)
        if (*in != '\n' && *in != '\r' && *in != ' ')
            *o++ = *in;
    *o = '\0';
    return out;
}

START_TEST(pkey_pop_sign_roundtrip)
{
    const char *sig = NULL, *msg = NULL;
    EVP_PKEY *rsa = priv(RSA4096_PRIV), *ec = priv(EC384_PRIV);

    ck_assert_int_eq(dpc_pkey_sign_pop(pool, rsa, &sig, &msg), DPC_PKEY_OK);
    /* RSA PKCS#1 v1.5 is deterministic: the same bytes as the openssl CLI
     * made, which `base64` wrapped at 76 columns. */
    ck_assert_str_eq(sig, strip_ws(RSA4096_POP_SIG));
    ck_assert_int_eq(dpc_pkey_verify_pop(pool, rsa, sig, &msg), DPC_PKEY_OK);

    ck_assert_int_eq(dpc_pkey_sign_pop(pool, ec, &sig, &msg), DPC_PKEY_OK);
    ck_assert_int_eq(dpc_pkey_verify_pop(pool, pub(EC384_PUB)->pkey, sig,
                                         &msg), DPC_PKEY_OK);
}
END_TEST

START_TEST(pkey_snippet_text)
{
    ck_assert_str_eq(DPC_PKEY_SNIPPET,
                     "This is the snippet used to verify a key pair in DPC.");
    ck_assert_uint_eq(strlen(DPC_PKEY_SNIPPET), 53);
}
END_TEST

START_TEST(pkey_jwk_rsa_smart)
{
    dpc_pkey_t *key = NULL;
    const char *msg = NULL;
    ck_assert_msg(dpc_pkey_from_jwk_text(pool, SMART_RS384_JWK, &key, &msg)
                  == DPC_PKEY_OK, "%s", msg);
    ck_assert_int_eq(key->alg, DPC_ALG_RS384);
    ck_assert_int_eq(key->bits, 2048);
    /* The IG's example key is 2048 bits: fine to verify, refused by
     * DPC's registration policy. */
    ck_assert_int_eq(dpc_pkey_check(pool, key, 0, &msg), DPC_PKEY_TOO_SMALL);
    ck_assert_int_eq(dpc_pkey_check(pool, key, 2048, &msg), DPC_PKEY_OK);
}
END_TEST

START_TEST(pkey_jwk_ec_smart)
{
    dpc_pkey_t *key = NULL;
    const char *msg = NULL;
    ck_assert_msg(dpc_pkey_from_jwk_text(pool, SMART_ES384_JWK, &key, &msg)
                  == DPC_PKEY_OK, "%s", msg);
    ck_assert_int_eq(key->alg, DPC_ALG_ES384);
    ck_assert_str_eq(key->curve, "secp384r1");
    ck_assert_int_eq(dpc_pkey_check(pool, key, 0, &msg), DPC_PKEY_OK);
}
END_TEST

START_TEST(pkey_jwk_matches_pem_fingerprint)
{
    /* JWK of EC384_PUB's key, built from its PEM, gives the same SPKI. */
    EVP_PKEY *pkey = pub(EC384_PUB)->pkey;
    BIGNUM *x = NULL, *y = NULL;
    unsigned char bx[48], by[48];
    dpc_pkey_t *key = NULL;
    const char *msg = NULL, *jwk;

    ck_assert(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &x));
    ck_assert(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &y));
    ck_assert_int_eq(BN_bn2binpad(x, bx, 48), 48);
    ck_assert_int_eq(BN_bn2binpad(y, by, 48), 48);
    BN_free(x);
    BN_free(y);
    jwk = apr_psprintf(pool, "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"%s\","
                       "\"y\":\"%s\"}", dpc_b64url_encode(pool, bx, 48),
                       dpc_b64url_encode(pool, by, 48));
    ck_assert_int_eq(dpc_pkey_from_jwk_text(pool, jwk, &key, &msg),
                     DPC_PKEY_OK);
    ck_assert_str_eq(key->fingerprint, EC384_FPR);
}
END_TEST

START_TEST(pkey_jwk_missing_member)
{
    dpc_pkey_t *key = NULL;
    const char *msg = NULL;
    ck_assert_int_eq(dpc_pkey_from_jwk_text(pool, "{\"kty\":\"RSA\","
                     "\"e\":\"AQAB\"}", &key, &msg), DPC_PKEY_BAD_JWK);
    ck_assert_contains(msg, "\"n\"");
    ck_assert_int_eq(dpc_pkey_from_jwk_text(pool, "{\"n\":\"AQAB\"}", &key,
                     &msg), DPC_PKEY_BAD_JWK);
    ck_assert_contains(msg, "\"kty\"");
    ck_assert_int_eq(dpc_pkey_from_jwk_text(pool, "{\"kty\":\"EC\","
                     "\"x\":\"AA\",\"y\":\"AA\"}", &key, &msg),
                     DPC_PKEY_BAD_JWK);
    ck_assert_contains(msg, "\"crv\"");
}
END_TEST

START_TEST(pkey_jwk_bad_base64url)
{
    dpc_pkey_t *key = NULL;
    const char *msg = NULL;
    ck_assert_int_eq(dpc_pkey_from_jwk_text(pool, "{\"kty\":\"RSA\","
                     "\"n\":\"wJq2+HIA\",\"e\":\"AQAB\"}", &key, &msg),
                     DPC_PKEY_BAD_JWK);
    ck_assert_contains(msg, "base64url");
}
END_TEST

START_TEST(pkey_jwk_ec_wrong_size_or_point)
{
    dpc_pkey_t *key = NULL;
    const char *msg = NULL;
    json_t *jwk = json_loads(SMART_ES384_JWK, 0, NULL);

    /* 32-byte coordinates for P-384 */
    json_object_set_new(jwk, "x", json_string(
        "pyqburM9y8HPcFhNosDW6ngoVEJitqXi_HJgI5hYqX0"));
    ck_assert_int_eq(dpc_pkey_from_jwk(pool, jwk, &key, &msg),
                     DPC_PKEY_BAD_JWK);
    ck_assert_contains(msg, "48 bytes");
    /* right size, but not a point on the curve */
    json_object_set_new(jwk, "x", json_string(
        "pyqburM9y8HPcFhNosDW6ngoVEJitqXi_HJgI5hYqX21PoFDwCbYirGy_o0oapIV"));
    ck_assert_int_eq(dpc_pkey_from_jwk(pool, jwk, &key, &msg),
                     DPC_PKEY_BAD_JWK);
    json_decref(jwk);
}
END_TEST

START_TEST(pkey_jwk_unsupported_kty)
{
    dpc_pkey_t *key = NULL;
    const char *msg = NULL;
    ck_assert_int_eq(dpc_pkey_from_jwk_text(pool, "{\"kty\":\"oct\","
                     "\"k\":\"AAAA\"}", &key, &msg), DPC_PKEY_UNSUPPORTED);
    ck_assert_int_eq(dpc_pkey_from_jwk_text(pool, "[1]", &key, &msg),
                     DPC_PKEY_BAD_JWK);
    ck_assert_int_eq(dpc_pkey_from_jwk_text(pool, "{", &key, &msg),
                     DPC_PKEY_BAD_JWK);
}
END_TEST

START_TEST(pkey_jwk_alg_mismatch)
{
    dpc_pkey_t *key = NULL;
    const char *msg = NULL;
    json_t *jwk = json_loads(SMART_RS384_JWK, 0, NULL);
    json_object_set_new(jwk, "alg", json_string("RS256"));
    ck_assert_int_eq(dpc_pkey_from_jwk(pool, jwk, &key, &msg),
                     DPC_PKEY_BAD_JWK);
    ck_assert_contains(msg, "RS256");
    ck_assert_ptr_null(key);
    json_decref(jwk);
}
END_TEST

START_TEST(pkey_generate_ec_pem_roundtrip)
{
    EVP_PKEY *pkey = NULL, *back = NULL;
    const char *priv_pem = NULL, *pub_pem = NULL, *msg = NULL, *sig = NULL;
    dpc_pkey_t *key = NULL;

    ck_assert_int_eq(dpc_pkey_generate(pool, DPC_ALG_ES384, 0, &pkey, &msg),
                     DPC_PKEY_OK);
    ck_assert_int_eq(dpc_pkey_private_pem(pool, pkey, &priv_pem, &msg),
                     DPC_PKEY_OK);
    ck_assert(strncmp(priv_pem, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
    ck_assert_int_eq(dpc_pkey_public_pem(pool, pkey, &pub_pem, &msg),
                     DPC_PKEY_OK);
    ck_assert(strncmp(pub_pem, "-----BEGIN PUBLIC KEY-----\n", 27) == 0);
    ck_assert_int_eq(dpc_pkey_parse(pool, pub_pem, strlen(pub_pem), 0, &key,
                                    &msg), DPC_PKEY_OK);
    ck_assert_int_eq(key->alg, DPC_ALG_ES384);
    back = priv(priv_pem);
    ck_assert_int_eq(dpc_pkey_sign_pop(pool, back, &sig, &msg), DPC_PKEY_OK);
    ck_assert_int_eq(dpc_pkey_verify_pop(pool, key->pkey, sig, &msg),
                     DPC_PKEY_OK);
}
END_TEST

START_TEST(pkey_generate_rejects_bad_requests)
{
    EVP_PKEY *pkey = NULL;
    const char *msg = NULL;
    ck_assert_int_eq(dpc_pkey_generate(pool, DPC_ALG_UNKNOWN, 0, &pkey, &msg),
                     DPC_PKEY_UNSUPPORTED);
    ck_assert_int_eq(dpc_pkey_generate(pool, DPC_ALG_RS384, 1024, &pkey, &msg),
                     DPC_PKEY_TOO_SMALL);
    ck_assert_int_eq(dpc_pkey_generate(pool, DPC_ALG_RS384, 32768, &pkey,
                                       &msg), DPC_PKEY_TOO_LARGE);
    ck_assert_ptr_null(pkey);
}
END_TEST

START_TEST(pkey_encrypted_private_key_no_prompt)
{
    EVP_PKEY *pkey = NULL;
    const char *msg = NULL;
    ck_assert_int_eq(dpc_pkey_private_from_pem(pool, EC384_ENC_PRIV,
                                               strlen(EC384_ENC_PRIV), &pkey,
                                               &msg), DPC_PKEY_NOT_PEM);
    ck_assert_contains(msg, "unencrypted");
    ck_assert_int_eq(dpc_pkey_private_from_pem(pool, EC384_PUB,
                                               strlen(EC384_PUB), &pkey,
                                               &msg), DPC_PKEY_NOT_PEM);
}
END_TEST

START_TEST(pkey_alg_names)
{
    ck_assert_int_eq(dpc_alg_from_name("RS384"), DPC_ALG_RS384);
    ck_assert_int_eq(dpc_alg_from_name("ES384"), DPC_ALG_ES384);
    ck_assert_int_eq(dpc_alg_from_name("rs384"), DPC_ALG_UNKNOWN);
    ck_assert_int_eq(dpc_alg_from_name("RS256"), DPC_ALG_UNKNOWN);
    ck_assert_int_eq(dpc_alg_from_name(NULL), DPC_ALG_UNKNOWN);
    ck_assert_str_eq(dpc_alg_name(DPC_ALG_ES384), "ES384");
    ck_assert_ptr_null(dpc_alg_name(DPC_ALG_UNKNOWN));
}
END_TEST

Suite *pkey_suite(void)
{
    Suite *s = suite_create("pkey");
    TCase *parse = tcase("parse"), *pop = tcase("pop"), *jwk = tcase("jwk");
    TCase *client = tcase("client");

    tcase_add_test(parse, pkey_rsa4096_spki);
    tcase_add_test(parse, pkey_rsa4096_pkcs1_same_fingerprint);
    tcase_add_test(parse, pkey_ec384);
    tcase_add_test(parse, pkey_fingerprints_differ);
    tcase_add_test(parse, pkey_whitespace_around_ok);
    tcase_add_test(parse, pkey_rsa2048_too_small);
    tcase_add_test(parse, pkey_rsa2048_ok_with_lower_minimum);
    tcase_add_test(parse, pkey_rsa_too_large);
    tcase_add_test(parse, pkey_ec256_wrong_curve);
    tcase_add_test(parse, pkey_ed25519_unsupported);
    tcase_add_test(parse, pkey_not_pem);
    tcase_add_test(parse, pkey_private_key_refused);
    tcase_add_test(parse, pkey_certificate_refused);
    tcase_add_test(parse, pkey_two_blocks_refused);
    tcase_add_test(parse, pkey_text_before_refused);
    tcase_add_test(parse, pkey_corrupt_body_refused);
    tcase_add_test(parse, pkey_truncated_refused);
    tcase_add_test(parse, pkey_alg_names);
    suite_add_tcase(s, parse);

    tcase_add_test(pop, pkey_snippet_text);
    tcase_add_test(pop, pkey_pop_openssl_cli_rsa);
    tcase_add_test(pop, pkey_pop_openssl_cli_ec);
    tcase_add_test(pop, pkey_pop_wrong_key);
    tcase_add_test(pop, pkey_pop_wrong_text);
    tcase_add_test(pop, pkey_pop_tampered_signature);
    tcase_add_test(pop, pkey_pop_not_base64);
    tcase_add_test(pop, pkey_pop_sign_roundtrip);
    suite_add_tcase(s, pop);

    tcase_add_test(jwk, pkey_jwk_rsa_smart);
    tcase_add_test(jwk, pkey_jwk_ec_smart);
    tcase_add_test(jwk, pkey_jwk_matches_pem_fingerprint);
    tcase_add_test(jwk, pkey_jwk_missing_member);
    tcase_add_test(jwk, pkey_jwk_bad_base64url);
    tcase_add_test(jwk, pkey_jwk_ec_wrong_size_or_point);
    tcase_add_test(jwk, pkey_jwk_unsupported_kty);
    tcase_add_test(jwk, pkey_jwk_alg_mismatch);
    suite_add_tcase(s, jwk);

    tcase_add_test(client, pkey_generate_ec_pem_roundtrip);
    tcase_add_test(client, pkey_generate_rejects_bad_requests);
    tcase_add_test(client, pkey_encrypted_private_key_no_prompt);
    suite_add_tcase(s, client);
    return s;
}

/* ====================================================================== */
/* dpc_jwt                                                                  */

#define NOW ((apr_int64_t)1700000000)
#define AUD "https://dpc.example.org/api/v2/Token/auth"
#define CT "dpcct_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"
#define KID "7b8e6f6e-0d2a-4c7e-9a53-3f1c2b1a0e11"

static apr_status_t json_release(void *j)
{
    json_decref(j);
    return APR_SUCCESS;
}

static json_t *own(json_t *j)
{
    ck_assert_ptr_nonnull(j);
    apr_pool_cleanup_register(pool, j, json_release, apr_pool_cleanup_null);
    return j;
}

static json_t *good_claims(void)
{
    return own(json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "iss", CT,
                         "sub", CT, "aud", AUD, "iat", (json_int_t)NOW,
                         "exp", (json_int_t)(NOW + 300), "jti", "jti-0001"));
}

/* Sign claims (and extra header members) with our signer and kid KID. */
static const char *sign_with(EVP_PKEY *key, json_t *extra, json_t *claims)
{
    const char *tok = NULL, *msg = NULL;
    ck_assert_msg(dpc_jwt_sign(pool, key, KID, extra, claims, &tok, &msg)
                  == DPC_JWT_OK, "sign: %s", msg);
    return tok;
}

static const char *sign_claims(EVP_PKEY *key, json_t *claims)
{
    return sign_with(key, NULL, claims);
}

/* parse + dpc_jwt_verify with the default policy at NOW for AUD. */
static dpc_jwt_err_e run_at(const char *tok, EVP_PKEY *key, apr_int64_t now,
                            const char **msg)
{
    dpc_jwt_t *jwt = NULL;
    dpc_jwt_policy_t pol;
    dpc_jwt_err_e rv;

    *msg = NULL;
    if ((rv = dpc_jwt_parse(pool, tok, &jwt, msg)) != DPC_JWT_OK) {
        ck_assert_ptr_null(jwt);
        return rv;
    }
    dpc_jwt_policy_init(&pol, AUD, now);
    return dpc_jwt_verify(pool, jwt, key, &pol, msg);
}

static dpc_jwt_err_e run(const char *tok, EVP_PKEY *key, const char **msg)
{
    return run_at(tok, key, NOW, msg);
}

/* Expect rv and a message naming where. */
#define ck_reject(tok, key, want, where)                                    \
    do {                                                                    \
        const char *m_ = NULL;                                              \
        dpc_jwt_err_e r_ = run((tok), (key), &m_);                          \
        ck_assert_msg(r_ == (want), "got %d (%s), want %d", r_,             \
                      m_ ? m_ : "-", (want));                               \
        ck_assert_contains(m_, (where));                                    \
    } while (0)

#define ck_accept(tok, key)                                                 \
    do {                                                                    \
        const char *m_ = NULL;                                              \
        dpc_jwt_err_e r_ = run((tok), (key), &m_);                          \
        ck_assert_msg(r_ == DPC_JWT_OK, "rejected: %s", m_ ? m_ : "-");     \
    } while (0)

/* Sign "b64(hdr).b64(claims)" with md: PKCS#1 v1.5 for RSA, DER for EC. */
static const char *jws_md(const char *hdr, const char *claims, EVP_PKEY *key,
                          const EVP_MD *md)
{
    const char *input = apr_pstrcat(pool, b64u(hdr), ".", b64u(claims), NULL);
    unsigned char sig[1024];
    size_t siglen = sizeof(sig);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();

    ck_assert(EVP_DigestSignInit(ctx, NULL, md, NULL, key) == 1);
    ck_assert(EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)input,
                             strlen(input)) == 1);
    EVP_MD_CTX_free(ctx);
    return apr_pstrcat(pool, input, ".", dpc_b64url_encode(pool, sig, siglen),
                       NULL);
}

static const char *claims_text(void)
{
    char *s = json_dumps(good_claims(), JSON_COMPACT);
    const char *out = apr_pstrdup(pool, s);
    free(s);
    return out;
}

/* Replace part i (0..2) of a token. */
static const char *with_part(const char *tok, int i, const char *part)
{
    const char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
    const char *p0 = apr_pstrmemdup(pool, tok, (apr_size_t)(d1 - tok));
    const char *p1 = apr_pstrmemdup(pool, d1 + 1, (apr_size_t)(d2 - d1 - 1));
    const char *p2 = d2 + 1;
    return apr_pstrcat(pool, i == 0 ? part : p0, ".", i == 1 ? part : p1, ".",
                       i == 2 ? part : p2, NULL);
}

/* --- known answers: the SMART App Launch IG examples --- */

static dpc_jwt_err_e kat(const char *jwk, const char *tok, apr_int64_t now,
                         const char **msg)
{
    dpc_pkey_t *key = NULL;
    dpc_jwt_t *jwt = NULL;
    dpc_jwt_policy_t pol;
    dpc_jwt_err_e rv;

    ck_assert_int_eq(dpc_pkey_from_jwk_text(pool, jwk, &key, msg),
                     DPC_PKEY_OK);
    ck_assert_int_eq(dpc_jwt_parse(pool, tok, &jwt, msg), DPC_JWT_OK);
    rv = dpc_jwt_verify_signature(pool, jwt, key->pkey, msg);
    if (rv != DPC_JWT_OK)
        return rv;
    dpc_jwt_policy_init(&pol, SMART_AUD, now);
    return dpc_jwt_verify(pool, jwt, key->pkey, &pol, msg);
}

START_TEST(jwt_kat_smart_rs384)
{
    const char *msg = NULL;
    dpc_jwt_err_e rv = kat(SMART_RS384_JWK, SMART_RS384_JWT, SMART_EXP - 300,
                           &msg);
    ck_assert_msg(rv == DPC_JWT_OK, "%s", msg);
}
END_TEST

START_TEST(jwt_kat_smart_es384)
{
    const char *msg = NULL;
    dpc_jwt_err_e rv = kat(SMART_ES384_JWK, SMART_ES384_JWT, SMART_EXP - 300,
                           &msg);
    ck_assert_msg(rv == DPC_JWT_OK, "%s", msg);
}
END_TEST

START_TEST(jwt_kat_smart_fields)
{
    dpc_jwt_t *jwt = NULL;
    const char *msg = NULL;

    ck_assert_int_eq(dpc_jwt_parse(pool, SMART_RS384_JWT, &jwt, &msg),
                     DPC_JWT_OK);
    ck_assert_str_eq(jwt->alg, "RS384");
    ck_assert_str_eq(jwt->kid, "eee9f17a3b598fd86417a980b591fbe6");
    ck_assert_str_eq(jwt->typ, "JWT");
    ck_assert(!jwt->has_jku && !jwt->has_x5u && !jwt->has_jwk
              && !jwt->has_x5c && !jwt->has_crit);
    ck_assert_str_eq(jwt->iss, SMART_CLIENT);
    ck_assert_str_eq(jwt->sub, SMART_CLIENT);
    ck_assert_int_eq(jwt->aud->nelts, 1);
    ck_assert(!jwt->aud_is_array);
    ck_assert_str_eq(APR_ARRAY_IDX(jwt->aud, 0, const char *), SMART_AUD);
    ck_assert(jwt->has_exp && jwt->exp == SMART_EXP);
    ck_assert(!jwt->has_nbf && !jwt->has_iat);
    ck_assert_str_eq(jwt->jti, "random-non-reusable-jwt-id-123");
    ck_assert_uint_eq(jwt->sig_len, 256);
}
END_TEST

START_TEST(jwt_kat_smart_expired_today)
{
    const char *msg = NULL;
    ck_assert_int_eq(kat(SMART_RS384_JWK, SMART_RS384_JWT, dpc_now(), &msg),
                     DPC_JWT_BAD_CLAIMS);
    ck_assert_contains(msg, "claims.exp");
    ck_assert_contains(msg, "expired");
}
END_TEST

START_TEST(jwt_kat_smart_tampered_claims)
{
    const char *msg = NULL;
    const char *claims = "{\"iss\":\"" SMART_CLIENT "\",\"sub\":\""
        SMART_CLIENT "\",\"aud\":\"" SMART_AUD "\",\"exp\":1422568861,"
        "\"jti\":\"random-non-reusable-jwt-id-123\"}";
    const char *tok = with_part(SMART_RS384_JWT, 1, b64u(claims));
    ck_assert_int_eq(kat(SMART_RS384_JWK, tok, SMART_EXP - 300, &msg),
                     DPC_JWT_BAD_SIGNATURE);
}
END_TEST

/* --- round trips --- */

START_TEST(jwt_roundtrip_rs384)
{
    EVP_PKEY *key = priv(RSA4096_PRIV);
    const char *tok = sign_claims(key, good_claims());
    ck_accept(tok, key);
    ck_accept(tok, pub(RSA4096_PUB)->pkey);
    ck_accept(tok, pub(RSA4096_PKCS1)->pkey);
}
END_TEST

START_TEST(jwt_roundtrip_es384)
{
    EVP_PKEY *key = priv(EC384_PRIV);
    dpc_jwt_t *jwt = NULL;
    const char *msg = NULL, *tok = sign_claims(key, good_claims());

    ck_accept(tok, pub(EC384_PUB)->pkey);
    ck_assert_int_eq(dpc_jwt_parse(pool, tok, &jwt, &msg), DPC_JWT_OK);
    ck_assert_str_eq(jwt->alg, "ES384");
    ck_assert_uint_eq(jwt->sig_len, 96);
}
END_TEST

START_TEST(jwt_client_assertion_roundtrip)
{
    EVP_PKEY *key = priv(EC384_PRIV);
    dpc_jwt_t *jwt = NULL;
    const char *tok = NULL, *msg = NULL;

    ck_assert_int_eq(dpc_jwt_client_assertion(pool, key, KID, CT, AUD, NOW, 0,
                                              &tok, &msg), DPC_JWT_OK);
    ck_accept(tok, pub(EC384_PUB)->pkey);
    ck_assert_int_eq(dpc_jwt_parse(pool, tok, &jwt, &msg), DPC_JWT_OK);
    ck_assert_str_eq(jwt->kid, KID);
    ck_assert_str_eq(jwt->iss, CT);
    ck_assert_str_eq(jwt->sub, CT);
    ck_assert(jwt->exp == NOW + 300 && jwt->iat == NOW);
    ck_assert(dpc_uuid_is_valid(jwt->jti));
}
END_TEST

/* --- alg --- */

START_TEST(jwt_alg_none)
{
    const char *tok = apr_pstrcat(pool, b64u("{\"alg\":\"none\",\"kid\":\""
                                              KID "\",\"typ\":\"JWT\"}"),
                                  ".", b64u(claims_text()), ".", NULL);
    ck_reject(tok, pub(RSA4096_PUB)->pkey, DPC_JWT_BAD_ALG, "\"none\"");
}
END_TEST

START_TEST(jwt_alg_none_direct_signature_check)
{
    /* Even a caller skipping the header rules cannot get "none" through. */
    const char *tok = apr_pstrcat(pool, b64u("{\"alg\":\"none\"}"), ".",
                                  b64u(claims_text()), ".", NULL);
    dpc_jwt_t *jwt = NULL;
    const char *msg = NULL;
    ck_assert_int_eq(dpc_jwt_parse(pool, tok, &jwt, &msg), DPC_JWT_OK);
    ck_assert_int_eq(dpc_jwt_verify_signature(pool, jwt,
                                              pub(RSA4096_PUB)->pkey, &msg),
                     DPC_JWT_BAD_ALG);
}
END_TEST

START_TEST(jwt_alg_hs256_public_pem_as_secret)
{
    /* The classic key-confusion attack: HMAC keyed with the public PEM. */
    const char *hdr = "{\"alg\":\"HS256\",\"kid\":\"" KID "\",\"typ\":\"JWT\"}";
    const char *input = apr_pstrcat(pool, b64u(hdr), ".", b64u(claims_text()),
                                    NULL);
    unsigned char mac[32];
    size_t maclen = 0;

    ck_assert_ptr_nonnull(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL,
                                    RSA4096_PUB, strlen(RSA4096_PUB),
                                    (const unsigned char *)input,
                                    strlen(input), mac, sizeof(mac), &maclen));
    ck_reject(apr_pstrcat(pool, input, ".",
                          dpc_b64url_encode(pool, mac, maclen), NULL),
              pub(RSA4096_PUB)->pkey, DPC_JWT_BAD_ALG, "shared-secret");
}
END_TEST

START_TEST(jwt_alg_rs256)
{
    const char *hdr = "{\"alg\":\"RS256\",\"kid\":\"" KID "\",\"typ\":\"JWT\"}";
    const char *tok = jws_md(hdr, claims_text(), priv(RSA4096_PRIV),
                             EVP_sha256());
    ck_reject(tok, pub(RSA4096_PUB)->pkey, DPC_JWT_BAD_ALG, "\"RS256\"");
}
END_TEST

START_TEST(jwt_alg_missing)
{
    const char *hdr = "{\"kid\":\"" KID "\",\"typ\":\"JWT\"}";
    const char *tok = jws_md(hdr, claims_text(), priv(RSA4096_PRIV),
                             EVP_sha384());
    ck_reject(tok, pub(RSA4096_PUB)->pkey, DPC_JWT_BAD_ALG, "header.alg");
}
END_TEST

START_TEST(jwt_alg_wrong_case)
{
    const char *hdr = "{\"alg\":\"rs384\",\"kid\":\"" KID "\",\"typ\":\"JWT\"}";
    const char *tok = jws_md(hdr, claims_text(), priv(RSA4096_PRIV),
                             EVP_sha384());
    ck_reject(tok, pub(RSA4096_PUB)->pkey, DPC_JWT_BAD_ALG, "\"rs384\"");
}
END_TEST

START_TEST(jwt_alg_rs384_with_ec_key)
{
    const char *tok = sign_claims(priv(RSA4096_PRIV), good_claims());
    ck_reject(tok, pub(EC384_PUB)->pkey, DPC_JWT_BAD_ALG, "needs an RSA key");
}
END_TEST

START_TEST(jwt_alg_es384_with_rsa_key)
{
    const char *tok = sign_claims(priv(EC384_PRIV), good_claims());
    ck_reject(tok, pub(RSA4096_PUB)->pkey, DPC_JWT_BAD_ALG,
              "needs an EC P-384 key");
}
END_TEST

START_TEST(jwt_alg_es384_with_p256_key)
{
    const char *tok = sign_claims(priv(EC384_PRIV), good_claims());
    ck_reject(tok, pub(EC256_PUB)->pkey, DPC_JWT_BAD_ALG, "prime256v1");
}
END_TEST

START_TEST(jwt_sign_refuses_p256_key)
{
    const char *tok = NULL, *msg = NULL;
    ck_assert_int_eq(dpc_jwt_sign(pool, priv(EC256_PRIV), KID, NULL,
                                  good_claims(), &tok, &msg), DPC_JWT_BAD_ALG);
    ck_assert_ptr_null(tok);
}
END_TEST

START_TEST(jwt_sign_extra_header_cannot_set_alg)
{
    dpc_jwt_t *jwt = NULL;
    const char *msg = NULL;
    const char *tok = sign_with(priv(RSA4096_PRIV),
                                own(json_pack("{s:s}", "alg", "none")),
                                good_claims());
    ck_assert_int_eq(dpc_jwt_parse(pool, tok, &jwt, &msg), DPC_JWT_OK);
    ck_assert_str_eq(jwt->alg, "RS384");
}
END_TEST

/* --- signature --- */

START_TEST(jwt_tampered_payload)
{
    EVP_PKEY *key = priv(RSA4096_PRIV);
    const char *tok = sign_claims(key, good_claims());
    json_t *c = good_claims();
    char *s;

    json_object_set_new(c, "exp", json_integer(NOW + 200));
    s = json_dumps(c, JSON_COMPACT);
    tok = with_part(tok, 1, b64u(s));
    free(s);
    ck_reject(tok, key, DPC_JWT_BAD_SIGNATURE, "does not verify");
}
END_TEST

START_TEST(jwt_tampered_header)
{
    EVP_PKEY *key = priv(RSA4096_PRIV);
    const char *tok = sign_claims(key, good_claims());
    tok = with_part(tok, 0, b64u("{\"alg\":\"RS384\",\"kid\":\"other\","
                                 "\"typ\":\"JWT\"}"));
    ck_reject(tok, key, DPC_JWT_BAD_SIGNATURE, "does not verify");
}
END_TEST

START_TEST(jwt_tampered_signature_rsa)
{
    EVP_PKEY *key = priv(RSA4096_PRIV);
    char *tok = apr_pstrdup(pool, sign_claims(key, good_claims()));
    char *sig = strrchr(tok, '.') + 1;
    sig[5] = sig[5] == 'A' ? 'B' : 'A';
    ck_reject(tok, key, DPC_JWT_BAD_SIGNATURE, "does not verify");
}
END_TEST

START_TEST(jwt_tampered_signature_ec)
{
    EVP_PKEY *key = priv(EC384_PRIV);
    char *tok = apr_pstrdup(pool, sign_claims(key, good_claims()));
    char *sig = strrchr(tok, '.') + 1;
    sig[70] = sig[70] == 'A' ? 'B' : 'A';
    ck_reject(tok, key, DPC_JWT_BAD_SIGNATURE, "does not verify");
}
END_TEST

START_TEST(jwt_wrong_key_rsa)
{
    const char *tok = sign_claims(priv(RSA4096_PRIV), good_claims());
    ck_reject(tok, pub(RSA4096B_PUB)->pkey, DPC_JWT_BAD_SIGNATURE,
              "does not verify");
}
END_TEST

START_TEST(jwt_wrong_key_ec)
{
    const char *tok = sign_claims(priv(EC384_PRIV), good_claims());
    ck_reject(tok, pub(EC384B_PUB)->pkey, DPC_JWT_BAD_SIGNATURE,
              "does not verify");
}
END_TEST

START_TEST(jwt_es384_der_signature_rejected)
{
    const char *hdr = "{\"alg\":\"ES384\",\"kid\":\"" KID "\",\"typ\":\"JWT\"}";
    const char *tok = jws_md(hdr, claims_text(), priv(EC384_PRIV),
                             EVP_sha384());
    ck_reject(tok, pub(EC384_PUB)->pkey, DPC_JWT_BAD_SIGNATURE, "96 bytes");
}
END_TEST

START_TEST(jwt_rs384_short_signature)
{
    EVP_PKEY *key = priv(RSA4096_PRIV);
    const char *tok = sign_claims(key, good_claims());
    const char *sig = strrchr(tok, '.') + 1;
    unsigned char *raw;
    apr_size_t n;

    /* the same signature less its last byte, correctly re-encoded */
    ck_assert_int_eq(dpc_b64url_decode(pool, sig, strlen(sig), &raw, &n),
                     APR_SUCCESS);
    ck_assert_uint_eq(n, 512);
    tok = with_part(tok, 2, dpc_b64url_encode(pool, raw, n - 1));
    ck_reject(tok, key, DPC_JWT_BAD_SIGNATURE, "512 bytes, not 511");
}
END_TEST

START_TEST(jwt_empty_signature)
{
    EVP_PKEY *key = priv(RSA4096_PRIV);
    const char *tok = with_part(sign_claims(key, good_claims()), 2, "");
    ck_reject(tok, key, DPC_JWT_BAD_SIGNATURE, "empty");
}
END_TEST

START_TEST(jwt_forged_token_reports_signature_first)
{
    /* Claims are wrong too, but without the key you learn only that. */
    json_t *c = good_claims();
    json_object_del(c, "jti");
    ck_reject(sign_claims(priv(RSA4096_PRIV), c), pub(RSA4096B_PUB)->pkey,
              DPC_JWT_BAD_SIGNATURE, "does not verify");
}
END_TEST

/* --- structure --- */

START_TEST(jwt_truncated)
{
    EVP_PKEY *key = priv(RSA4096_PRIV);
    const char *tok = sign_claims(key, good_claims());
    const char *two = apr_pstrmemdup(pool, tok, (apr_size_t)(strrchr(tok, '.')
                                                             - tok));
    ck_reject(two, key, DPC_JWT_MALFORMED, "3 dot-separated parts");
    ck_reject(apr_pstrndup(pool, tok, 20), key, DPC_JWT_MALFORMED,
              "3 dot-separated parts");
    /* a signature of 4n+1 characters cannot be base64url */
    ck_reject(apr_pstrndup(pool, tok, strlen(tok) - 2), key,
              DPC_JWT_MALFORMED, "signature is not valid base64url");
}
END_TEST

START_TEST(jwt_bad_base64_header)
{
    EVP_PKEY *key = priv(RSA4096_PRIV);
    const char *tok = sign_claims(key, good_claims());
    ck_reject(apr_pstrcat(pool, "+", tok, NULL), key, DPC_JWT_MALFORMED,
              "header is not valid base64url");
}
END_TEST

START_TEST(jwt_bad_base64_claims)
{
    EVP_PKEY *key = priv(RSA4096_PRIV);
    const char *tok = sign_claims(key, good_claims());
    ck_reject(with_part(tok, 1, "eyJpc3MiOiJ4In0="), key, DPC_JWT_MALFORMED,
              "claims are not valid base64url");
}
END_TEST

START_TEST(jwt_padded_signature)
{
    EVP_PKEY *key = priv(RSA4096_PRIV);
    const char *tok = sign_claims(key, good_claims());
    /* 512 bytes = 683 characters + "=" in padded base64 */
    ck_reject(apr_pstrcat(pool, tok, "=", NULL), key, DPC_JWT_MALFORMED,
              "signature is not valid base64url");
}
END_TEST

START_TEST(jwt_whitespace_in_token)
{
    EVP_PKEY *key = priv(RSA4096_PRIV);
    const char *tok = sign_claims(key, good_claims());
    ck_reject(apr_pstrcat(pool, tok, "\n", NULL), key, DPC_JWT_MALFORMED,
              "base64url");
    ck_reject(apr_pstrcat(pool, " ", tok, NULL), key, DPC_JWT_MALFORMED,
              "base64url");
}
END_TEST

START_TEST(jwt_extra_dots)
{
    EVP_PKEY *key = priv(RSA4096_PRIV);
    const char *tok = sign_claims(key, good_claims());
    ck_reject(apr_pstrcat(pool, tok, ".", NULL), key, DPC_JWT_MALFORMED,
              "not 4");
    ck_reject(apr_pstrcat(pool, tok, ".e30.e30", NULL), key,
              DPC_JWT_MALFORMED, "not 5");      /* JWE shape */
}
END_TEST

START_TEST(jwt_empty_parts)
{
    EVP_PKEY *key = priv(RSA4096_PRIV);
    const char *tok = sign_claims(key, good_claims());
    ck_reject(with_part(tok, 0, ""), key, DPC_JWT_MALFORMED, "header is empty");
    ck_reject(with_part(tok, 1, ""), key, DPC_JWT_MALFORMED, "claims are empty");
    ck_reject("..", key, DPC_JWT_MALFORMED, "header is empty");
}
END_TEST

START_TEST(jwt_empty_and_too_long)
{
    EVP_PKEY *key = priv(RSA4096_PRIV);
    char *big = apr_palloc(pool, DPC_JWT_MAX_LEN + 2);
    const char *msg = NULL;
    dpc_jwt_t *jwt = NULL;

    ck_reject("", key, DPC_JWT_MALFORMED, "empty");
    ck_assert_int_eq(dpc_jwt_parse(pool, NULL, &jwt, &msg), DPC_JWT_MALFORMED);
    memset(big, 'a', DPC_JWT_MAX_LEN + 1);
    big[DPC_JWT_MAX_LEN + 1] = '\0';
    ck_reject(big, key, DPC_JWT_MALFORMED, "longer than 16384");
}
END_TEST

START_TEST(jwt_header_not_json)
{
    EVP_PKEY *key = priv(RSA4096_PRIV);
    const char *tok = sign_claims(key, good_claims());
    ck_reject(with_part(tok, 0, b64u("{alg:RS384}")), key, DPC_JWT_MALFORMED,
              "header is not valid JSON");
    ck_reject(with_part(tok, 0, b64u("{\"alg\":\"RS384\"} x")), key,
              DPC_JWT_MALFORMED, "header is not valid JSON");
}
END_TEST

START_TEST(jwt_header_not_object)
{
    EVP_PKEY *key = priv(RSA4096_PRIV);
    const char *tok = sign_claims(key, good_claims());
    ck_reject(with_part(tok, 0, b64u("[\"RS384\"]")), key, DPC_JWT_MALFORMED,
              "header is not a JSON object");
}
END_TEST

START_TEST(jwt_claims_not_object)
{
    EVP_PKEY *key = priv(RSA4096_PRIV);
    const char *tok = sign_claims(key, good_claims());
    ck_reject(with_part(tok, 1, b64u("\"iss\"")), key, DPC_JWT_MALFORMED,
              "claims are not a JSON object");
    ck_reject(with_part(tok, 1, b64u("1700000000")), key, DPC_JWT_MALFORMED,
              "claims are not a JSON object");
    ck_reject(with_part(tok, 1, b64u("null")), key, DPC_JWT_MALFORMED,
              "claims are not a JSON object");
}
END_TEST

START_TEST(jwt_duplicate_claim)
{
    const char *hdr = "{\"alg\":\"RS384\",\"kid\":\"" KID "\",\"typ\":\"JWT\"}";
    const char *claims = "{\"iss\":\"" CT "\",\"iss\":\"someone-else\"}";
    const char *tok = jws_md(hdr, claims, priv(RSA4096_PRIV), EVP_sha384());
    ck_reject(tok, pub(RSA4096_PUB)->pkey, DPC_JWT_MALFORMED, "duplicate");
}
END_TEST

/* --- header rules --- */

static const char *with_header(const char *name, json_t *value)
{
    json_t *extra = own(json_object());
    json_object_set_new(extra, name, value);
    return sign_with(priv(RSA4096_PRIV), extra, good_claims());
}

START_TEST(jwt_kid_missing)
{
    const char *tok = NULL, *msg = NULL;
    ck_assert_int_eq(dpc_jwt_sign(pool, priv(RSA4096_PRIV), NULL, NULL,
                                  good_claims(), &tok, &msg), DPC_JWT_OK);
    ck_reject(tok, pub(RSA4096_PUB)->pkey, DPC_JWT_BAD_HEADER,
              "header.kid: is required");
    ck_reject(with_header("kid", json_string("")), pub(RSA4096_PUB)->pkey,
              DPC_JWT_BAD_HEADER, "header.kid: must not be empty");
    ck_reject(with_header("kid", json_integer(7)), pub(RSA4096_PUB)->pkey,
              DPC_JWT_BAD_HEADER, "header.kid: must be a string");
}
END_TEST

START_TEST(jwt_typ_rules)
{
    EVP_PKEY *key = pub(RSA4096_PUB)->pkey;
    const char *tok = with_header("typ", json_null());
    ck_reject(with_header("typ", json_string("JOSE")), key, DPC_JWT_BAD_HEADER,
              "header.typ");
    ck_accept(with_header("typ", json_string("jwt")), key);
    ck_accept(with_header("typ", json_string("application/JWT")), key);
    ck_reject(tok, key, DPC_JWT_BAD_HEADER, "header.typ");
}
END_TEST

START_TEST(jwt_typ_absent)
{
    dpc_jwt_t *jwt = NULL;
    dpc_jwt_policy_t pol;
    const char *msg = NULL, *hdr = "{\"alg\":\"RS384\",\"kid\":\"" KID "\"}";
    const char *tok = jws_md(hdr, claims_text(), priv(RSA4096_PRIV),
                             EVP_sha384());
    ck_reject(tok, pub(RSA4096_PUB)->pkey, DPC_JWT_BAD_HEADER,
              "header.typ: is required");
    /* optional when the policy says so */
    ck_assert_int_eq(dpc_jwt_parse(pool, tok, &jwt, &msg), DPC_JWT_OK);
    dpc_jwt_policy_init(&pol, AUD, NOW);
    pol.require_typ = 0;
    ck_assert_int_eq(dpc_jwt_verify(pool, jwt, pub(RSA4096_PUB)->pkey, &pol,
                                    &msg), DPC_JWT_OK);
}
END_TEST

START_TEST(jwt_jku_present)
{
    ck_reject(with_header("jku", json_string("https://evil.example/jwks")),
              pub(RSA4096_PUB)->pkey, DPC_JWT_BAD_HEADER, "header.jku");
}
END_TEST

START_TEST(jwt_x5u_present)
{
    ck_reject(with_header("x5u", json_string("https://evil.example/cert")),
              pub(RSA4096_PUB)->pkey, DPC_JWT_BAD_HEADER, "header.x5u");
}
END_TEST

START_TEST(jwt_jwk_present)
{
    ck_reject(with_header("jwk", json_loads(SMART_RS384_JWK, 0, NULL)),
              pub(RSA4096_PUB)->pkey, DPC_JWT_BAD_HEADER, "header.jwk");
}
END_TEST

START_TEST(jwt_x5c_present)
{
    ck_reject(with_header("x5c", json_pack("[s]", "MIIB")),
              pub(RSA4096_PUB)->pkey, DPC_JWT_BAD_HEADER, "header.x5c");
}
END_TEST

START_TEST(jwt_crit_present)
{
    ck_reject(with_header("crit", json_pack("[s]", "exp")),
              pub(RSA4096_PUB)->pkey, DPC_JWT_BAD_HEADER, "header.crit");
}
END_TEST

/* --- claim rules --- */

static void reject_without(const char *claim, const char *where)
{
    json_t *c = good_claims();
    json_object_del(c, claim);
    ck_reject(sign_claims(priv(EC384_PRIV), c), pub(EC384_PUB)->pkey,
              DPC_JWT_BAD_CLAIMS, where);
}

static const char *with_claim(const char *name, json_t *value)
{
    json_t *c = good_claims();
    json_object_set_new(c, name, value);
    return sign_claims(priv(EC384_PRIV), c);
}

#define EC_PUB (pub(EC384_PUB)->pkey)

START_TEST(jwt_missing_iss)
{
    /* sub alone remains: only the missing iss is reported first */
    reject_without("iss", "claims.iss: is required");
}
END_TEST

START_TEST(jwt_missing_sub)
{
    reject_without("sub", "claims.sub: is required");
}
END_TEST

START_TEST(jwt_missing_aud)
{
    reject_without("aud", "claims.aud: is required");
}
END_TEST

START_TEST(jwt_missing_exp)
{
    reject_without("exp", "claims.exp: is required");
}
END_TEST

START_TEST(jwt_missing_jti)
{
    reject_without("jti", "claims.jti: is required");
}
END_TEST

START_TEST(jwt_iat_and_nbf_optional)
{
    json_t *c = good_claims();
    json_object_del(c, "iat");
    ck_accept(sign_claims(priv(EC384_PRIV), c), EC_PUB);
}
END_TEST

START_TEST(jwt_iss_not_sub)
{
    ck_reject(with_claim("sub", json_string("dpcct_other")), EC_PUB,
              DPC_JWT_BAD_CLAIMS, "claims.sub: must be equal to claims.iss");
}
END_TEST

START_TEST(jwt_iss_wrong_type_or_empty)
{
    ck_reject(with_claim("iss", json_integer(42)), EC_PUB, DPC_JWT_BAD_CLAIMS,
              "claims.iss: must be a string");
    ck_reject(with_claim("iss", json_string("")), EC_PUB, DPC_JWT_BAD_CLAIMS,
              "claims.iss: must not be empty");
}
END_TEST

START_TEST(jwt_jti_too_long)
{
    char big[DPC_JWT_MAX_ID_LEN + 2];
    memset(big, 'j', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    ck_reject(with_claim("jti", json_string(big)), EC_PUB, DPC_JWT_BAD_CLAIMS,
              "claims.jti: is longer than 256");
}
END_TEST

START_TEST(jwt_exp_past)
{
    ck_reject(with_claim("exp", json_integer(NOW - 3600)), EC_PUB,
              DPC_JWT_BAD_CLAIMS, "claims.exp: the JWT expired 3600 seconds");
}
END_TEST

START_TEST(jwt_exp_skew_edge)
{
    json_t *c = good_claims();
    json_object_set_new(c, "iat", json_integer(NOW - 360));
    json_object_set_new(c, "exp", json_integer(NOW - DPC_JWT_SKEW));
    ck_reject(sign_claims(priv(EC384_PRIV), c), EC_PUB, DPC_JWT_BAD_CLAIMS,
              "claims.exp: the JWT expired 60 seconds ago");
    json_object_set_new(c, "exp", json_integer(NOW - DPC_JWT_SKEW + 1));
    ck_accept(sign_claims(priv(EC384_PRIV), c), EC_PUB);
}
END_TEST

START_TEST(jwt_exp_too_far_ahead)
{
    ck_reject(with_claim("exp", json_integer(NOW + 300 + DPC_JWT_SKEW + 1)),
              EC_PUB, DPC_JWT_BAD_CLAIMS,
              "claims.exp: is 361 seconds in the future; at most 300");
    ck_accept(with_claim("exp", json_integer(NOW + 300 + DPC_JWT_SKEW)),
              EC_PUB);
    ck_reject(with_claim("exp", json_integer(INT64_MAX)), EC_PUB,
              DPC_JWT_BAD_CLAIMS, "in the future");
}
END_TEST

START_TEST(jwt_exp_not_integer)
{
    ck_reject(with_claim("exp", json_string("1700000300")), EC_PUB,
              DPC_JWT_BAD_CLAIMS, "claims.exp: must be an integer");
    ck_reject(with_claim("exp", json_real(1700000300.5)), EC_PUB,
              DPC_JWT_BAD_CLAIMS, "claims.exp: must be an integer");
}
END_TEST

START_TEST(jwt_nbf_future)
{
    ck_reject(with_claim("nbf", json_integer(NOW + DPC_JWT_SKEW + 1)), EC_PUB,
              DPC_JWT_BAD_CLAIMS, "claims.nbf: the JWT is not valid for "
              "another 61 seconds");
    ck_accept(with_claim("nbf", json_integer(NOW + DPC_JWT_SKEW)), EC_PUB);
}
END_TEST

START_TEST(jwt_iat_future)
{
    ck_reject(with_claim("iat", json_integer(NOW + DPC_JWT_SKEW + 1)), EC_PUB,
              DPC_JWT_BAD_CLAIMS, "claims.iat: is 61 seconds in the future");
    ck_reject(with_claim("iat", json_string("now")), EC_PUB,
              DPC_JWT_BAD_CLAIMS, "claims.iat: must be an integer");
}
END_TEST

START_TEST(jwt_aud_string_mismatch)
{
    ck_reject(with_claim("aud", json_string(AUD "/")), EC_PUB,
              DPC_JWT_BAD_CLAIMS, "is not this server's token URL");
    ck_reject(with_claim("aud", json_string("https://dpc.example.org/api/v2/"
                                            "token/auth")), EC_PUB,
              DPC_JWT_BAD_CLAIMS, "claims.aud");
}
END_TEST

START_TEST(jwt_aud_array_contains)
{
    ck_accept(with_claim("aud", json_pack("[s, s]", "https://other.example",
                                          AUD)), EC_PUB);
    ck_accept(with_claim("aud", json_pack("[s]", AUD)), EC_PUB);
}
END_TEST

START_TEST(jwt_aud_array_without_us)
{
    ck_reject(with_claim("aud", json_pack("[s]", "https://other.example")),
              EC_PUB, DPC_JWT_BAD_CLAIMS, "claims.aud: does not contain");
}
END_TEST

START_TEST(jwt_aud_bad_shapes)
{
    ck_reject(with_claim("aud", json_array()), EC_PUB, DPC_JWT_BAD_CLAIMS,
              "claims.aud: must not be an empty array");
    ck_reject(with_claim("aud", json_pack("[s, i]", AUD, 1)), EC_PUB,
              DPC_JWT_BAD_CLAIMS, "claims.aud: must be an array of strings");
    ck_reject(with_claim("aud", json_pack("{s:s}", "url", AUD)), EC_PUB,
              DPC_JWT_BAD_CLAIMS, "claims.aud: must be a string or an array");
}
END_TEST

/* --- collecting every problem (/Token/validate) --- */

static int has_problem(apr_array_header_t *l, const char *where)
{
    int i;
    for (i = 0; i < l->nelts; i++)
        if (strcmp(APR_ARRAY_IDX(l, i, dpc_jwt_problem_t).where, where) == 0)
            return 1;
    return 0;
}

START_TEST(jwt_problems_collects_all)
{
    const char *tok = apr_pstrcat(pool, b64u("{\"alg\":\"none\",\"jku\":\"x\","
                                             "\"typ\":\"JWT\"}"),
                                  ".", b64u("{\"aud\":[\"elsewhere\"],"
                                            "\"exp\":\"soon\"}"), ".", NULL);
    apr_array_header_t *l = apr_array_make(pool, 4,
                                           sizeof(dpc_jwt_problem_t));
    dpc_jwt_t *jwt = NULL;
    dpc_jwt_policy_t pol;
    const char *msg = NULL;
    int n;

    ck_assert_int_eq(dpc_jwt_parse(pool, tok, &jwt, &msg), DPC_JWT_OK);
    dpc_jwt_policy_init(&pol, AUD, NOW);
    n = dpc_jwt_problems(pool, jwt, &pol, l);
    ck_assert_int_eq(n, 8);
    ck_assert(has_problem(l, "header.alg"));
    ck_assert(has_problem(l, "header.kid"));
    ck_assert(has_problem(l, "header.jku"));
    ck_assert(has_problem(l, "claims.iss"));
    ck_assert(has_problem(l, "claims.sub"));
    ck_assert(has_problem(l, "claims.aud"));
    ck_assert(has_problem(l, "claims.exp"));
    ck_assert(has_problem(l, "claims.jti"));
    ck_assert_int_eq(APR_ARRAY_IDX(l, 0, dpc_jwt_problem_t).code,
                     DPC_JWT_BAD_ALG);
    /* dpc_jwt_check reports the first one */
    ck_assert_int_eq(dpc_jwt_check(pool, jwt, &pol, &msg), DPC_JWT_BAD_ALG);
    ck_assert_contains(msg, "header.alg");
}
END_TEST

START_TEST(jwt_problems_ignore_signature)
{
    /* /Token/validate does not check the signature: a good JWT signed with
     * an unknown key has no problems. */
    apr_array_header_t *l = apr_array_make(pool, 4,
                                           sizeof(dpc_jwt_problem_t));
    const char *tok = sign_claims(priv(RSA4096_PRIV), good_claims());
    dpc_jwt_t *jwt = NULL;
    dpc_jwt_policy_t pol;
    const char *msg = NULL;

    tok = with_part(tok, 2, "AAAA");
    ck_assert_int_eq(dpc_jwt_parse(pool, tok, &jwt, &msg), DPC_JWT_OK);
    dpc_jwt_policy_init(&pol, AUD, NOW);
    ck_assert_int_eq(dpc_jwt_problems(pool, jwt, &pol, l), 0);
    ck_assert_int_eq(dpc_jwt_check(pool, jwt, &pol, &msg), DPC_JWT_OK);
}
END_TEST

/* --- a freshly generated RSA-4096 key (once per test case) --- */

static apr_pool_t *gen_pool;
static EVP_PKEY *gen_rsa;

static void gen_setup(void)
{
    const char *msg = NULL;
    apr_initialize();
    apr_pool_create(&gen_pool, NULL);
    if (dpc_pkey_generate(gen_pool, DPC_ALG_RS384, 4096, &gen_rsa, &msg)
        != DPC_PKEY_OK)
        gen_rsa = NULL;
}

static void gen_teardown(void)
{
    apr_pool_destroy(gen_pool);
    apr_terminate();
}

START_TEST(jwt_generated_rsa4096_roundtrip)
{
    const char *pem = NULL, *tok = NULL, *msg = NULL, *sig = NULL;
    dpc_pkey_t *key = NULL;

    ck_assert_ptr_nonnull(gen_rsa);
    ck_assert_int_eq(dpc_pkey_public_pem(pool, gen_rsa, &pem, &msg),
                     DPC_PKEY_OK);
    ck_assert_int_eq(dpc_pkey_parse(pool, pem, strlen(pem), 0, &key, &msg),
                     DPC_PKEY_OK);
    ck_assert_int_eq(key->bits, 4096);
    ck_assert_int_eq(dpc_pkey_sign_pop(pool, gen_rsa, &sig, &msg),
                     DPC_PKEY_OK);
    ck_assert_int_eq(dpc_pkey_verify_pop(pool, key->pkey, sig, &msg),
                     DPC_PKEY_OK);
    ck_assert_int_eq(dpc_jwt_client_assertion(pool, gen_rsa, KID, CT, AUD,
                                              NOW, 300, &tok, &msg),
                     DPC_JWT_OK);
    ck_accept(tok, key->pkey);
    ck_reject(tok, pub(RSA4096_PUB)->pkey, DPC_JWT_BAD_SIGNATURE,
              "does not verify");
}
END_TEST

Suite *jwt_suite(void)
{
    Suite *s = suite_create("jwt");
    TCase *kat_tc = tcase("known-answer"), *alg = tcase("alg");
    TCase *sig = tcase("signature"), *shape = tcase("structure");
    TCase *hdr = tcase("header"), *claims = tcase("claims");
    TCase *gen = tcase("generated");

    tcase_add_test(kat_tc, jwt_kat_smart_rs384);
    tcase_add_test(kat_tc, jwt_kat_smart_es384);
    tcase_add_test(kat_tc, jwt_kat_smart_fields);
    tcase_add_test(kat_tc, jwt_kat_smart_expired_today);
    tcase_add_test(kat_tc, jwt_kat_smart_tampered_claims);
    tcase_add_test(kat_tc, jwt_roundtrip_rs384);
    tcase_add_test(kat_tc, jwt_roundtrip_es384);
    tcase_add_test(kat_tc, jwt_client_assertion_roundtrip);
    suite_add_tcase(s, kat_tc);

    tcase_add_test(alg, jwt_alg_none);
    tcase_add_test(alg, jwt_alg_none_direct_signature_check);
    tcase_add_test(alg, jwt_alg_hs256_public_pem_as_secret);
    tcase_add_test(alg, jwt_alg_rs256);
    tcase_add_test(alg, jwt_alg_missing);
    tcase_add_test(alg, jwt_alg_wrong_case);
    tcase_add_test(alg, jwt_alg_rs384_with_ec_key);
    tcase_add_test(alg, jwt_alg_es384_with_rsa_key);
    tcase_add_test(alg, jwt_alg_es384_with_p256_key);
    tcase_add_test(alg, jwt_sign_refuses_p256_key);
    tcase_add_test(alg, jwt_sign_extra_header_cannot_set_alg);
    suite_add_tcase(s, alg);

    tcase_add_test(sig, jwt_tampered_payload);
    tcase_add_test(sig, jwt_tampered_header);
    tcase_add_test(sig, jwt_tampered_signature_rsa);
    tcase_add_test(sig, jwt_tampered_signature_ec);
    tcase_add_test(sig, jwt_wrong_key_rsa);
    tcase_add_test(sig, jwt_wrong_key_ec);
    tcase_add_test(sig, jwt_es384_der_signature_rejected);
    tcase_add_test(sig, jwt_rs384_short_signature);
    tcase_add_test(sig, jwt_empty_signature);
    tcase_add_test(sig, jwt_forged_token_reports_signature_first);
    suite_add_tcase(s, sig);

    tcase_add_test(shape, jwt_truncated);
    tcase_add_test(shape, jwt_bad_base64_header);
    tcase_add_test(shape, jwt_bad_base64_claims);
    tcase_add_test(shape, jwt_padded_signature);
    tcase_add_test(shape, jwt_whitespace_in_token);
    tcase_add_test(shape, jwt_extra_dots);
    tcase_add_test(shape, jwt_empty_parts);
    tcase_add_test(shape, jwt_empty_and_too_long);
    tcase_add_test(shape, jwt_header_not_json);
    tcase_add_test(shape, jwt_header_not_object);
    tcase_add_test(shape, jwt_claims_not_object);
    tcase_add_test(shape, jwt_duplicate_claim);
    suite_add_tcase(s, shape);

    tcase_add_test(hdr, jwt_kid_missing);
    tcase_add_test(hdr, jwt_typ_rules);
    tcase_add_test(hdr, jwt_typ_absent);
    tcase_add_test(hdr, jwt_jku_present);
    tcase_add_test(hdr, jwt_x5u_present);
    tcase_add_test(hdr, jwt_jwk_present);
    tcase_add_test(hdr, jwt_x5c_present);
    tcase_add_test(hdr, jwt_crit_present);
    suite_add_tcase(s, hdr);

    tcase_add_test(claims, jwt_missing_iss);
    tcase_add_test(claims, jwt_missing_sub);
    tcase_add_test(claims, jwt_missing_aud);
    tcase_add_test(claims, jwt_missing_exp);
    tcase_add_test(claims, jwt_missing_jti);
    tcase_add_test(claims, jwt_iat_and_nbf_optional);
    tcase_add_test(claims, jwt_iss_not_sub);
    tcase_add_test(claims, jwt_iss_wrong_type_or_empty);
    tcase_add_test(claims, jwt_jti_too_long);
    tcase_add_test(claims, jwt_exp_past);
    tcase_add_test(claims, jwt_exp_skew_edge);
    tcase_add_test(claims, jwt_exp_too_far_ahead);
    tcase_add_test(claims, jwt_exp_not_integer);
    tcase_add_test(claims, jwt_nbf_future);
    tcase_add_test(claims, jwt_iat_future);
    tcase_add_test(claims, jwt_aud_string_mismatch);
    tcase_add_test(claims, jwt_aud_array_contains);
    tcase_add_test(claims, jwt_aud_array_without_us);
    tcase_add_test(claims, jwt_aud_bad_shapes);
    tcase_add_test(claims, jwt_problems_collects_all);
    tcase_add_test(claims, jwt_problems_ignore_signature);
    suite_add_tcase(s, claims);

    /* RSA-4096 generation takes ~0.5-2 s: once, in the parent process. */
    tcase_add_unchecked_fixture(gen, gen_setup, gen_teardown);
    tcase_set_timeout(gen, 30);
    tcase_add_test(gen, jwt_generated_rsa4096_roundtrip);
    suite_add_tcase(s, gen);
    return s;
}

/* ====================================================================== */
/* dpc_token                                                                */

static const unsigned char SECRET_A[] = "0123456789abcdef0123456789abcdef-A";
static const unsigned char SECRET_B[] = "0123456789abcdef0123456789abcdef-B";
#define ORG "1f0e6a2c-3b4d-4e5f-8a9b-0c1d2e3f4a5b"

static dpc_token_secrets_t secrets(const unsigned char *cur,
                                   const unsigned char *prev)
{
    dpc_token_secrets_t s;
    s.current = cur;
    s.current_len = cur ? strlen((const char *)cur) : 0;
    s.previous = prev;
    s.previous_len = prev ? strlen((const char *)prev) : 0;
    return s;
}

static dpc_access_token_t fields(void)
{
    dpc_access_token_t f;
    memset(&f, 0, sizeof(f));
    f.org_id = ORG;
    f.client_token_id = "2a2b2c2d-0000-4000-8000-000000000001";
    f.key_id = KID;
    f.scope = "system/*.*";
    f.iat = NOW;
    f.exp = NOW + DPC_ACCESS_TOKEN_LIFETIME;
    return f;
}

static const char *issue(const unsigned char *secret)
{
    dpc_token_secrets_t s = secrets(secret, NULL);
    dpc_access_token_t f = fields();
    const char *tok = NULL, *msg = NULL;
    ck_assert_msg(dpc_access_token_issue(pool, &s, &f, &tok, &msg)
                  == DPC_TOKEN_OK, "issue: %s", msg);
    return tok;
}

static dpc_token_err_e check_at(const char *tok, const unsigned char *cur,
                                const unsigned char *prev, apr_int64_t now,
                                int skew, const char **msg)
{
    dpc_token_secrets_t s = secrets(cur, prev);
    dpc_access_token_t *out = NULL;
    return dpc_access_token_verify(pool, &s, tok, now, skew, &out, msg);
}

static dpc_token_err_e check(const char *tok, const char **msg)
{
    return check_at(tok, SECRET_A, NULL, NOW + 10, 0, msg);
}

START_TEST(token_uuid_v4_format)
{
    const char *u = NULL;
    int i;
    for (i = 0; i < 200; i++) {
        ck_assert_int_eq(dpc_uuid_v4(pool, &u), APR_SUCCESS);
        ck_assert_uint_eq(strlen(u), 36);
        ck_assert(dpc_uuid_is_valid(u));
        ck_assert_int_eq(u[14], '4');
        ck_assert(strchr("89ab", u[19]) != NULL);
    }
}
END_TEST

START_TEST(token_uuid_unique)
{
    apr_hash_t *seen = apr_hash_make(pool);
    const char *u;
    int i;
    for (i = 0; i < 1000; i++) {
        ck_assert_int_eq(dpc_uuid_v4(pool, &u), APR_SUCCESS);
        ck_assert_ptr_null(apr_hash_get(seen, u, APR_HASH_KEY_STRING));
        apr_hash_set(seen, u, APR_HASH_KEY_STRING, u);
    }
}
END_TEST

START_TEST(token_uuid_is_valid)
{
    ck_assert(dpc_uuid_is_valid("1F0E6A2C-3B4D-4E5F-8A9B-0C1D2E3F4A5B"));
    ck_assert(!dpc_uuid_is_valid("1f0e6a2c-3b4d-4e5f-8a9b-0c1d2e3f4a5"));
    ck_assert(!dpc_uuid_is_valid("1f0e6a2c-3b4d-4e5f-8a9b-0c1d2e3f4a5bb"));
    ck_assert(!dpc_uuid_is_valid("1f0e6a2c+3b4d-4e5f-8a9b-0c1d2e3f4a5b"));
    ck_assert(!dpc_uuid_is_valid("1f0e6a2g-3b4d-4e5f-8a9b-0c1d2e3f4a5b"));
    ck_assert(!dpc_uuid_is_valid(""));
    ck_assert(!dpc_uuid_is_valid(NULL));
}
END_TEST

START_TEST(token_now)
{
    apr_int64_t t = (apr_int64_t)time(NULL), n = dpc_now();
    ck_assert(n >= t && n <= t + 2);
}
END_TEST

START_TEST(token_client_token_shape)
{
    const char *a = NULL, *b = NULL;
    ck_assert_int_eq(dpc_client_token_generate(pool, &a), APR_SUCCESS);
    ck_assert_int_eq(dpc_client_token_generate(pool, &b), APR_SUCCESS);
    ck_assert(strncmp(a, DPC_CLIENT_TOKEN_PREFIX, 6) == 0);
    ck_assert_uint_eq(strlen(a), DPC_CLIENT_TOKEN_LEN);
    ck_assert_uint_eq(strlen(a), 49);
    ck_assert(dpc_client_token_well_formed(a));
    ck_assert_str_ne(a, b);
}
END_TEST

START_TEST(token_client_token_malformed)
{
    ck_assert(!dpc_client_token_well_formed(NULL));
    ck_assert(!dpc_client_token_well_formed(""));
    ck_assert(!dpc_client_token_well_formed(
        "xxxct_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"));
    ck_assert(!dpc_client_token_well_formed(
        "dpcct_0123456789abcdefghijklmnopqrstuvwxyzABCDEF"));
    ck_assert(!dpc_client_token_well_formed(
        "dpcct_0123456789abcdefghijklmnopqrstuvwxyzABCD+F="));
    ck_assert(dpc_client_token_well_formed(
        "dpcct_0123456789abcdefghijklmnopqrstuvwxyzABCDE-_"));
}
END_TEST

START_TEST(token_client_token_hash_known)
{
    /* FIPS 180-2 "abc" */
    ck_assert_str_eq(dpc_client_token_hash(pool, "abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

START_TEST(token_client_token_matches)
{
    const char *tok = NULL, *other = NULL, *h;
    char *upper;
    int i;
    ck_assert_int_eq(dpc_client_token_generate(pool, &tok), APR_SUCCESS);
    ck_assert_int_eq(dpc_client_token_generate(pool, &other), APR_SUCCESS);
    h = dpc_client_token_hash(pool, tok);
    ck_assert_uint_eq(strlen(h), 64);
    ck_assert(dpc_client_token_matches(tok, h));
    ck_assert(!dpc_client_token_matches(other, h));
    upper = apr_pstrdup(pool, h);
    for (i = 0; upper[i]; i++)
        upper[i] = (char)toupper((unsigned char)upper[i]);
    ck_assert(dpc_client_token_matches(tok, upper));
    ck_assert(!dpc_client_token_matches(tok, apr_pstrndup(pool, h, 63)));
    ck_assert(!dpc_client_token_matches(tok, apr_pstrcat(pool, h, "0", NULL)));
    upper[0] = 'g';
    ck_assert(!dpc_client_token_matches(tok, upper));
    ck_assert(!dpc_client_token_matches(NULL, h));
    ck_assert(!dpc_client_token_matches(tok, NULL));
}
END_TEST

/* Found by fuzzing: verify computed exp + skew, a signed overflow (undefined
 * behaviour) for a MACed payload whose exp is near INT64_MAX, and now - exp
 * for one near INT64_MIN.  The times are whatever integers the payload
 * holds, so the comparisons must not overflow. */
START_TEST(token_access_extreme_times)
{
    dpc_token_secrets_t s = secrets(SECRET_A, NULL);
    dpc_access_token_t f = fields(), *out = NULL;
    const char *tok = NULL, *msg = NULL;

    f.exp = APR_INT64_MAX;
    ck_assert_int_eq(dpc_access_token_issue(pool, &s, &f, &tok, &msg), DPC_TOKEN_OK);
    ck_assert_int_eq(dpc_access_token_verify(pool, &s, tok, NOW + 1, 5, &out, &msg),
                     DPC_TOKEN_OK);
    ck_assert(out->exp == APR_INT64_MAX);

    f = fields();
    f.iat = APR_INT64_MIN;
    f.exp = APR_INT64_MIN + 1;
    ck_assert_int_eq(dpc_access_token_issue(pool, &s, &f, &tok, &msg), DPC_TOKEN_OK);
    ck_assert_int_eq(dpc_access_token_verify(pool, &s, tok, NOW, 5, &out, &msg),
                     DPC_TOKEN_EXPIRED);
    ck_assert_str_eq(msg, "the access token expired 9223372036854775807 seconds ago");
}
END_TEST

/* The audience travels in the MAC'd payload: a token says whose it is
 * (DPC's or BCDA's), and one made without says nothing. */
START_TEST(token_access_audience)
{
    dpc_token_secrets_t s = secrets(SECRET_A, NULL);
    dpc_access_token_t f = fields(), *out = NULL;
    const char *tok = NULL, *msg = NULL;

    f.audience = "bcda";
    ck_assert_int_eq(dpc_access_token_issue(pool, &s, &f, &tok, &msg), DPC_TOKEN_OK);
    ck_assert_int_eq(dpc_access_token_verify(pool, &s, tok, NOW + 1, 0, &out, &msg),
                     DPC_TOKEN_OK);
    ck_assert_str_eq(out->audience, "bcda");
    f = fields();
    ck_assert_int_eq(dpc_access_token_issue(pool, &s, &f, &tok, &msg), DPC_TOKEN_OK);
    ck_assert_int_eq(dpc_access_token_verify(pool, &s, tok, NOW + 1, 0, &out, &msg),
                     DPC_TOKEN_OK);
    ck_assert_ptr_null(out->audience);
    f.audience = "bc\"da";
    ck_assert_int_eq(dpc_access_token_issue(pool, &s, &f, &tok, &msg), DPC_TOKEN_BAD_FIELDS);
}
END_TEST

/* Client secrets: 80 hex characters, stored salted and slow; only the
 * secret itself matches, and a stored text that is not ours matches
 * nothing. */
START_TEST(secret_hash_and_match)
{
    const char *a, *b, *h, *h2;
    char *bad;

    ck_assert_int_eq(dpc_secret_generate(pool, &a), APR_SUCCESS);
    ck_assert_int_eq(dpc_secret_generate(pool, &b), APR_SUCCESS);
    ck_assert_uint_eq(strlen(a), DPC_SECRET_LEN);
    ck_assert_str_ne(a, b);
    h = dpc_secret_hash(pool, a, 1000);
    h2 = dpc_secret_hash(pool, a, 1000);
    ck_assert_ptr_nonnull(h);
    ck_assert_str_ne(h, h2);                    /* a salt of its own */
    ck_assert(!strncmp(h, "pbkdf2-sha256$1000$", 19));
    ck_assert(strstr(h, a) == NULL);
    ck_assert(dpc_secret_matches(pool, a, h));
    ck_assert(dpc_secret_matches(pool, a, h2));
    ck_assert(!dpc_secret_matches(pool, b, h));
    ck_assert(!dpc_secret_matches(pool, "", h));
    ck_assert(!dpc_secret_matches(pool, a, NULL));
    bad = apr_pstrdup(pool, h);
    bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == '0' ? '1' : '0';
    ck_assert(!dpc_secret_matches(pool, a, bad));               /* another key */
    ck_assert(!dpc_secret_matches(pool, a, apr_pstrcat(pool, h, "0", NULL)));
    ck_assert(!dpc_secret_matches(pool, a, "pbkdf2-sha256$0$00$00"));
    ck_assert(!dpc_secret_matches(pool, a, "pbkdf2-sha256$99999999999$00$00"));
    ck_assert(!dpc_secret_matches(pool, a, "sha256$1000$00$00"));
    ck_assert_ptr_null(dpc_secret_hash(pool, a, 0));
}
END_TEST

START_TEST(token_access_roundtrip)
{
    dpc_token_secrets_t s = secrets(SECRET_A, NULL);
    dpc_access_token_t f = fields(), *out = NULL;
    const char *tok = NULL, *msg = NULL;

    ck_assert_int_eq(dpc_access_token_issue(pool, &s, &f, &tok, &msg),
                     DPC_TOKEN_OK);
    ck_assert(dpc_uuid_is_valid(f.token_id));   /* generated and stored */
    ck_assert(strncmp(tok, "dpc2.", 5) == 0);
    ck_assert_ptr_null(strchr(strchr(tok + 5, '.') + 1, '.'));
    ck_assert_uint_le(strlen(tok), 400);
    ck_assert_int_eq(dpc_access_token_verify(pool, &s, tok, NOW + 1, 0, &out,
                                             &msg), DPC_TOKEN_OK);
    ck_assert_str_eq(out->token_id, f.token_id);
    ck_assert_str_eq(out->org_id, ORG);
    ck_assert_str_eq(out->client_token_id, f.client_token_id);
    ck_assert_str_eq(out->key_id, KID);
    ck_assert_str_eq(out->scope, "system/*.*");
    ck_assert(out->iat == NOW && out->exp == NOW + 300);
}
END_TEST

START_TEST(token_access_ids_differ)
{
    ck_assert_str_ne(issue(SECRET_A), issue(SECRET_A));
}
END_TEST

START_TEST(token_access_tampered_payload)
{
    const char *msg = NULL, *tok = issue(SECRET_A);
    const char *dot = strchr(tok + 5, '.');
    const char *forged = "{\"jti\":\"x\",\"org\":\"other-org\",\"ct\":\"c\","
                         "\"kid\":\"k\",\"scope\":\"system/*.*\","
                         "\"iat\":1700000000,\"exp\":1700000300}";
    tok = apr_pstrcat(pool, "dpc2.", b64u(forged), dot, NULL);
    ck_assert_int_eq(check(tok, &msg), DPC_TOKEN_BAD_MAC);
    ck_assert_contains(msg, "bad signature");
}
END_TEST

START_TEST(token_access_tampered_mac)
{
    const char *msg = NULL;
    char *tok = apr_pstrdup(pool, issue(SECRET_A));
    char *mac = strrchr(tok, '.') + 1;
    mac[3] = mac[3] == 'A' ? 'B' : 'A';
    ck_assert_int_eq(check(tok, &msg), DPC_TOKEN_BAD_MAC);
}
END_TEST

START_TEST(token_access_wrong_secret)
{
    const char *msg = NULL;
    ck_assert_int_eq(check(issue(SECRET_B), &msg), DPC_TOKEN_BAD_MAC);
}
END_TEST

START_TEST(token_access_rotation)
{
    const char *msg = NULL, *old = issue(SECRET_A), *cur = issue(SECRET_B);
    /* B current, A previous: both verify */
    ck_assert_int_eq(check_at(old, SECRET_B, SECRET_A, NOW, 0, &msg),
                     DPC_TOKEN_OK);
    ck_assert_int_eq(check_at(cur, SECRET_B, SECRET_A, NOW, 0, &msg),
                     DPC_TOKEN_OK);
    /* A retired: its tokens stop working */
    ck_assert_int_eq(check_at(old, SECRET_B, NULL, NOW, 0, &msg),
                     DPC_TOKEN_BAD_MAC);
}
END_TEST

START_TEST(token_access_expired)
{
    const char *msg = NULL, *tok = issue(SECRET_A);
    ck_assert_int_eq(check_at(tok, SECRET_A, NULL, NOW + 299, 0, &msg),
                     DPC_TOKEN_OK);
    ck_assert_int_eq(check_at(tok, SECRET_A, NULL, NOW + 300, 0, &msg),
                     DPC_TOKEN_EXPIRED);
    ck_assert_contains(msg, "expired");
    ck_assert_int_eq(check_at(tok, SECRET_A, NULL, NOW + 304, 5, &msg),
                     DPC_TOKEN_OK);
    ck_assert_int_eq(check_at(tok, SECRET_A, NULL, NOW + 305, 5, &msg),
                     DPC_TOKEN_EXPIRED);
}
END_TEST

START_TEST(token_access_not_yet_valid)
{
    const char *msg = NULL, *tok = issue(SECRET_A);
    ck_assert_int_eq(check_at(tok, SECRET_A, NULL, NOW - 1, 0, &msg),
                     DPC_TOKEN_NOT_YET_VALID);
    ck_assert_int_eq(check_at(tok, SECRET_A, NULL, NOW - 5, 5, &msg),
                     DPC_TOKEN_OK);
}
END_TEST

START_TEST(token_access_malformed)
{
    const char *msg = NULL, *tok = issue(SECRET_A);
    char *big = apr_palloc(pool, DPC_ACCESS_TOKEN_MAX_LEN + 2);

    memset(big, 'a', DPC_ACCESS_TOKEN_MAX_LEN + 1);
    big[DPC_ACCESS_TOKEN_MAX_LEN + 1] = '\0';
    memcpy(big, "dpc2.", 5);
    ck_assert_int_eq(check("", &msg), DPC_TOKEN_MALFORMED);
    ck_assert_int_eq(check(NULL, &msg), DPC_TOKEN_MALFORMED);
    ck_assert_int_eq(check("dpc2.", &msg), DPC_TOKEN_MALFORMED);
    ck_assert_int_eq(check(tok + 1, &msg), DPC_TOKEN_MALFORMED);
    ck_assert_int_eq(check(apr_pstrcat(pool, "Bearer ", tok, NULL), &msg),
                     DPC_TOKEN_MALFORMED);
    ck_assert_int_eq(check(apr_pstrcat(pool, "dpc1.", tok + 5, NULL), &msg),
                     DPC_TOKEN_MALFORMED);
    ck_assert_int_eq(check(apr_pstrcat(pool, tok, "=", NULL), &msg),
                     DPC_TOKEN_MALFORMED);
    ck_assert_int_eq(check(apr_pstrcat(pool, tok, ".x", NULL), &msg),
                     DPC_TOKEN_MALFORMED);
    ck_assert_int_eq(check(apr_pstrndup(pool, tok, strlen(tok) - 4), &msg),
                     DPC_TOKEN_MALFORMED);          /* MAC too short */
    ck_assert_int_eq(check(apr_pstrndup(pool, tok, (apr_size_t)
                           (strrchr(tok, '.') - tok)), &msg),
                     DPC_TOKEN_MALFORMED);          /* no MAC */
    ck_assert_int_eq(check(big, &msg), DPC_TOKEN_MALFORMED);
    ck_assert_contains(msg, "malformed");
}
END_TEST

START_TEST(token_access_secret_too_short)
{
    const unsigned char shorty[] = "0123456789abcdef0123456789abcde";  /* 31 */
    dpc_token_secrets_t s = secrets(shorty, NULL);
    dpc_access_token_t f = fields();
    const char *tok = NULL, *msg = NULL;

    ck_assert_int_eq(dpc_access_token_issue(pool, &s, &f, &tok, &msg),
                     DPC_TOKEN_BAD_SECRET);
    ck_assert_contains(msg, "32 bytes");
    ck_assert_int_eq(check_at(issue(SECRET_A), shorty, NULL, NOW, 0, &msg),
                     DPC_TOKEN_BAD_SECRET);
    s = secrets(SECRET_A, shorty);
    ck_assert_int_eq(dpc_token_secrets_check(&s, &msg), DPC_TOKEN_BAD_SECRET);
    ck_assert_contains(msg, "previous");
    s = secrets(NULL, NULL);
    ck_assert_int_eq(dpc_token_secrets_check(&s, &msg), DPC_TOKEN_BAD_SECRET);
    s = secrets(SECRET_A, SECRET_B);
    ck_assert_int_eq(dpc_token_secrets_check(&s, &msg), DPC_TOKEN_OK);
}
END_TEST

START_TEST(token_access_bad_fields)
{
    dpc_token_secrets_t s = secrets(SECRET_A, NULL);
    dpc_access_token_t f = fields();
    const char *tok = NULL, *msg = NULL;

    f.org_id = "evil\"org";
    ck_assert_int_eq(dpc_access_token_issue(pool, &s, &f, &tok, &msg),
                     DPC_TOKEN_BAD_FIELDS);
    f = fields();
    f.scope = "";
    ck_assert_int_eq(dpc_access_token_issue(pool, &s, &f, &tok, &msg),
                     DPC_TOKEN_BAD_FIELDS);
    f = fields();
    f.key_id = NULL;
    ck_assert_int_eq(dpc_access_token_issue(pool, &s, &f, &tok, &msg),
                     DPC_TOKEN_BAD_FIELDS);
    f = fields();
    f.client_token_id = "line\nbreak";
    ck_assert_int_eq(dpc_access_token_issue(pool, &s, &f, &tok, &msg),
                     DPC_TOKEN_BAD_FIELDS);
    f = fields();
    f.exp = f.iat;
    ck_assert_int_eq(dpc_access_token_issue(pool, &s, &f, &tok, &msg),
                     DPC_TOKEN_BAD_FIELDS);
    ck_assert_ptr_null(tok);
}
END_TEST

Suite *token_suite(void)
{
    Suite *s = suite_create("token");
    TCase *rnd = tcase("random"), *ct = tcase("client-token");
    TCase *at = tcase("access-token");

    tcase_add_test(rnd, token_uuid_v4_format);
    tcase_add_test(rnd, token_uuid_unique);
    tcase_add_test(rnd, token_uuid_is_valid);
    tcase_add_test(rnd, token_now);
    suite_add_tcase(s, rnd);

    tcase_add_test(ct, token_client_token_shape);
    tcase_add_test(ct, token_client_token_malformed);
    tcase_add_test(ct, token_client_token_hash_known);
    tcase_add_test(ct, token_client_token_matches);
    suite_add_tcase(s, ct);

    tcase_add_test(at, token_access_roundtrip);
    tcase_add_test(at, token_access_extreme_times);
    tcase_add_test(at, token_access_ids_differ);
    tcase_add_test(at, token_access_tampered_payload);
    tcase_add_test(at, token_access_tampered_mac);
    tcase_add_test(at, token_access_wrong_secret);
    tcase_add_test(at, token_access_rotation);
    tcase_add_test(at, token_access_expired);
    tcase_add_test(at, token_access_not_yet_valid);
    tcase_add_test(at, token_access_malformed);
    tcase_add_test(at, token_access_secret_too_short);
    tcase_add_test(at, token_access_bad_fields);
    tcase_add_test(at, token_access_audience);
    tcase_add_test(at, secret_hash_and_match);
    suite_add_tcase(s, at);
    return s;
}
