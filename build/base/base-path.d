build/base/base-path.o: base/base-path.c base/base.h
base/base.h:
