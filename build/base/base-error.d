build/base/base-error.o: base/base-error.c base/base.h
base/base.h:
