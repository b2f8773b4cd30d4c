build/tests/unit/test-base.o: tests/unit/test-base.c base/base.h \
 tests/unit/test.h
base/base.h:
tests/unit/test.h:
