build/base/base-fs.o: base/base-fs.c base/base.h
base/base.h:
