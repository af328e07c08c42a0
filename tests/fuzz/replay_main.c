/*
 * The test-suite driver for the fuzz targets: replays every file named on
 * the command line, and every prefix of it (truncated input is the commonest
 * malformed input), through LLVMFuzzerTestOneInput under ASan and UBSan.
 * libFuzzer builds (-DINTAKE_FUZZ=ON) bring their own main instead.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    static uint8_t buf[4 << 20];
    int replayed = 0;
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            fprintf(stderr, "cannot open %s\n", argv[i]);
            return 1;
        }
        size_t n = fread(buf, 1, sizeof(buf), f);
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
        for (size_t cut = 0; cut < n; cut += 1 + n / 32)
            LLVMFuzzerTestOneInput(buf, cut);
        replayed++;
    }
    printf("replayed %d inputs\n", replayed);
    return replayed > 0 ? 0 : 1;
}
