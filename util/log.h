/* Logging: levels, one module name per file, secrets never passed in.
 * Engine code logs here and never writes to stdout/stderr itself: in the TUI
 * the screen belongs to ncurses, so the sink is a file there. */
#ifndef XCON_LOG_H
#define XCON_LOG_H

#include <stdio.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern enum log_level log_threshold;

/* Where log lines go; NULL keeps them (default stderr). */
void log_set_sink(FILE *f);
void log_set_level(enum log_level l);
void log_write(enum log_level l, const char *module, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#define LOG_AT(l, ...) do { if ((l) <= log_threshold) log_write((l), LOG_MODULE, __VA_ARGS__); } while (0)
#define log_error(...) LOG_AT(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) LOG_AT(LOG_WARN, __VA_ARGS__)
#define log_info(...) LOG_AT(LOG_INFO, __VA_ARGS__)
#define log_debug(...) LOG_AT(LOG_DEBUG, __VA_ARGS__)

/* Logs and exits(1): for start-up failures only. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
