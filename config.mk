# prescal version
VERSION = 0.1

# paths
PREFIX = /usr/local
MANPREFIX = $(PREFIX)/share/man

# flags the build needs; the user's CFLAGS/LDFLAGS are appended
PCPPFLAGS = -D_DEFAULT_SOURCE -D_GNU_SOURCE -DVERSION=\"$(VERSION)\"
PCFLAGS   = -std=c11 -pthread -Wall -Wextra -Wshadow -Wpointer-arith -Wcast-qual \
            -Wstrict-prototypes -Wmissing-prototypes
PLDFLAGS  = -pthread

CFLAGS = -O2 -g
LDFLAGS =

CC = cc
MUSLCC = musl-gcc
