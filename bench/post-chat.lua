-- wrk script for ROUTE=chat bench/passthrough.sh: the same small chat completion
-- every time, so every peer forwards exactly the same bytes.
wrk.method = "POST"
wrk.body   = '{"model": "meta-llama/Llama-3.1-8B-Instruct", "messages": [{"role": "user", "content": "I like you. I love you"}], "max_tokens": 8}'
wrk.headers["Content-Type"] = "application/json"
