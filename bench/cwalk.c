// The floor for any pcap reader: map a classic pcap file, walk its record headers, count the
// records and sum their captured lengths. Nothing is decoded. Prints "records N caplen_bytes N".
// Build: cc -O2 -march=native -o .bench/cwalk bench/cwalk.c
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static uint32_t read_u32(const unsigned char *p, int swapped) {
  uint32_t v;
  memcpy(&v, p, 4);
  return swapped ? __builtin_bswap32(v) : v;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: cwalk FILE.pcap\n");
    return 2;
  }
  int fd = open(argv[1], O_RDONLY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) != 0) {
    perror(argv[1]);
    return 1;
  }
  size_t size = (size_t)st.st_size;
  if (size < 24) {
    fprintf(stderr, "%s: too short for a pcap header\n", argv[1]);
    return 1;
  }
  const unsigned char *file = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (file == MAP_FAILED) {
    perror("mmap");
    return 1;
  }
  madvise((void *)file, size, MADV_SEQUENTIAL);

  // Microsecond and nanosecond magics, in either byte order.
  uint32_t magic = read_u32(file, 0);
  int swapped;
  if (magic == 0xa1b2c3d4 || magic == 0xa1b23c4d) swapped = 0;
  else if (magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1) swapped = 1;
  else {
    fprintf(stderr, "%s: not a classic pcap file (magic 0x%08x)\n", argv[1], magic);
    return 1;
  }

  uint64_t records = 0, caplen_bytes = 0;
  size_t offset = 24;
  while (offset + 16 <= size) {
    uint32_t caplen = read_u32(file + offset + 8, swapped);
    if (caplen > size - offset - 16) {
      fprintf(stderr, "%s: record %llu truncated\n", argv[1], (unsigned long long)records);
      return 1;
    }
    records++;
    caplen_bytes += caplen;
    offset += 16 + (size_t)caplen;
  }
  printf("records %llu caplen_bytes %llu\n", (unsigned long long)records, (unsigned long long)caplen_bytes);
  munmap((void *)file, size);
  close(fd);
  if (offset != size) {
    fprintf(stderr, "%s: %zu trailing bytes after the last record\n", argv[1], size - offset);
    return 1;
  }
  return 0;
}
