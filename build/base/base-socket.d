build/base/base-socket.o: base/base-socket.c base/base.h
base/base.h:
