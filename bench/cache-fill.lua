-- wrk script for the fill phase of bench/cache.sh: every request has a distinct body
-- (a run tag, the wrk thread and a counter), so each one adds a cache entry.
-- Arguments (after --): <run tag> <answers per thread, then the thread stops>.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local nthreads = 0

function setup(thread)
	nthreads = nthreads + 1
	thread:set("tid", nthreads)
end

local run, quota, sent, answered = "0", 0, 0, 0

function init(args)
	run = args[1] or "0"
	quota = tonumber(args[2] or "0") or 0
end

function request()
	sent = sent + 1
	return wrk.format(nil, nil, nil,
	    string.format('{"inputs": "cache fill %s-%d-%d"}', run, tid, sent))
end

function response(status, headers, body)
	answered = answered + 1
	if quota > 0 and answered >= quota then
		wrk.thread:stop()
	end
end
