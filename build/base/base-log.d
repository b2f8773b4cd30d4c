build/base/base-log.o: base/base-log.c base/base.h
base/base.h:
