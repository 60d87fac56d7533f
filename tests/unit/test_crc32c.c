/* tests/unit/test_crc32c.c — CRC32C vectors, hardware == software, chaining. */
#include <stdint.h>
#include <stdlib.h>

#include "common/crc32c.h"
#include "tests/unit/unit.h"

TEST(crc32c_vectors)
{
    CHECK_EQ_U64(st_crc32c(0, "123456789", 9), 0xE3069283u);
    CHECK_EQ_U64(st_crc32c_sw(0, "123456789", 9), 0xE3069283u);
    CHECK_EQ_U64(st_crc32c(0, NULL, 0), 0);
    unsigned char zeros[32] = {0}, ones[32], inc[32];
    for (int i = 0; i < 32; i++) { ones[i] = 0xff; inc[i] = (unsigned char)i; }
    /* RFC 3720 (iSCSI) appendix B.4 test vectors. */
    CHECK_EQ_U64(st_crc32c(0, zeros, 32), 0x8A9136AAu);
    CHECK_EQ_U64(st_crc32c(0, ones, 32), 0x62A8AB43u);
    CHECK_EQ_U64(st_crc32c(0, inc, 32), 0x46DD794Eu);
    CHECK_EQ_U64(st_crc32c_sw(0, inc, 32), 0x46DD794Eu);
}

TEST(crc32c_hw_equals_sw)
{
    uint64_t x = 88172645463325252ull;
    unsigned char *buf = malloc(70000);
    REQUIRE(buf != NULL);
    for (size_t i = 0; i < 70000; i++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        buf[i] = (unsigned char)x;
    }
    int hw = st_crc32c_hw_available();
    printf("  crc32c hardware path: %s\n", hw ? "yes" : "no");
    for (int t = 0; t < 500; t++) {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        size_t off = x % 64, len = (x >> 8) % 69000;
        if (t < 100) len = (size_t)t; /* every short length and alignment */
        uint32_t s = st_crc32c_sw(0, buf + off, len);
        if (hw) CHECK_EQ_U64(st_crc32c_hw(0, buf + off, len), s);
        CHECK_EQ_U64(st_crc32c(0, buf + off, len), s);
        /* chaining */
        size_t cut = len ? (x >> 20) % len : 0;
        CHECK_EQ_U64(st_crc32c(st_crc32c(0, buf + off, cut), buf + off + cut, len - cut), s);
    }
    free(buf);
}

int main(void)
{
    RUN(crc32c_vectors);
    RUN(crc32c_hw_equals_sw);
    return unit_done();
}
