/*
 * ratecalc: the shipping-rate quote service. A small HTTP/1.0 server with no dependencies
 * beyond libc, so it builds anywhere a C compiler does (and links statically with -static).
 *
 *   GET /healthz          -> 200 ok
 *   GET /quote?kg=N       -> 200 {"service":"ratecalc","kg":N,"price-cents":...}
 *   ratecalc --health     -> exit 0 when the server on $PORT answers /healthz with 200
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int port(void) {
    const char *p = getenv("PORT");
    int n = p ? atoi(p) : 0;
    return n > 0 && n < 65536 ? n : 8080;
}

static void on_term(int sig) {
    (void)sig;
    _exit(0);
}

static void reply(int fd, const char *status, const char *type, const char *body) {
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     status, type, strlen(body));
    if (write(fd, head, (size_t)n) < 0 || write(fd, body, strlen(body)) < 0) {
        perror("ratecalc: write");
    }
}

static void serve(int fd) {
    char req[2048];
    ssize_t got = read(fd, req, sizeof req - 1);
    if (got <= 0) {
        return;
    }
    req[got] = '\0';
    char method[8] = "", path[512] = "";
    if (sscanf(req, "%7s %511s", method, path) != 2 || strcmp(method, "GET") != 0) {
        reply(fd, "405 Method Not Allowed", "text/plain", "GET only\n");
        return;
    }
    if (strcmp(path, "/healthz") == 0) {
        reply(fd, "200 OK", "text/plain", "ok\n");
    } else if (strncmp(path, "/quote", 6) == 0) {
        const char *kg = strstr(path, "kg=");
        long grams = kg ? (long)(atof(kg + 3) * 1000) : 1000;
        if (grams <= 0 || grams > 1000000) {
            reply(fd, "400 Bad Request", "application/json", "{\"error\":\"kg out of range\"}\n");
            return;
        }
        char body[160];
        snprintf(body, sizeof body,
                 "{\"service\":\"ratecalc\",\"kg\":%.3f,\"price-cents\":%ld}\n",
                 grams / 1000.0, 450 + grams * 2 / 10);
        reply(fd, "200 OK", "application/json", body);
    } else {
        reply(fd, "404 Not Found", "text/plain", "not found\n");
    }
}

static int health(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = {2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port())};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        fprintf(stderr, "ratecalc --health: cannot connect to port %d\n", port());
        return 1;
    }
    const char *req = "GET /healthz HTTP/1.0\r\n\r\n";
    char buf[64] = "", rest[256];
    if (write(fd, req, strlen(req)) < 0 || read(fd, buf, sizeof buf - 1) <= 0) {
        fprintf(stderr, "ratecalc --health: no answer\n");
        return 1;
    }
    /* Read to the end so the server never writes into a closed connection. */
    while (read(fd, rest, sizeof rest) > 0) {
    }
    close(fd);
    if (strncmp(buf, "HTTP/1.0 200", 12) != 0) {
        fprintf(stderr, "ratecalc --health: unexpected answer: %.20s\n", buf);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--health") == 0) {
        return health();
    }
    /* As PID 1 in a container, SIGTERM is ignored unless handled. */
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    signal(SIGPIPE, SIG_IGN);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port())};
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) != 0 || listen(s, 64) != 0) {
        perror("ratecalc: listen");
        return 1;
    }
    fprintf(stderr, "ratecalc: listening on :%d as uid %d\n", port(), (int)getuid());
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0) {
            continue;
        }
        struct timeval tv = {5, 0};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        serve(c);
        close(c);
    }
}
