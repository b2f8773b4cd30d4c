build/base/base-string.o: base/base-string.c base/base.h
base/base.h:
