-- wrk script for bench/passthrough.sh: the same small text-classification request
-- every time, so every peer forwards exactly the same bytes.
wrk.method = "POST"
wrk.body   = '{"inputs": "I like you. I love you"}'
wrk.headers["Content-Type"] = "application/json"
