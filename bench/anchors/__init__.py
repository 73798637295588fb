"""The anchors the bench measures beside serve, in the same run (issue 19): (i) `bare`, a bare ASGI app on granian
answering the live prompt's bytes; (ii) `minimal`, a minimal Litestar + psycopg-pool app; (iii) `nginx`, Debian's
nginx serving the prompt's bytes as a static file. bench/README.md says how each is run."""
