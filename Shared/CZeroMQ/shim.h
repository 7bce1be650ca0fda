#ifndef LIAISON_CZEROMQ_SHIM_H
#define LIAISON_CZEROMQ_SHIM_H
#include <zmq.h>
#include <errno.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>
#endif
