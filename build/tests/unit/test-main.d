build/tests/unit/test-main.o: tests/unit/test-main.c tests/unit/test.h
tests/unit/test.h:
