// Test harness for the client conformance suite: starts the fake Hugging Face
// upstream (tests/fake_upstream) and hfgate with a temporary configuration, and
// stops both. Every wait is bounded; all traffic stays on 127.0.0.1.
// Node 18 compatible: global fetch and Blob, node:child_process, node:fs.

import { spawn } from "node:child_process";
import { Buffer } from "node:buffer";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "..", "..");
export const TOP_SRCDIR = path.resolve(process.env.top_srcdir || repo);
export const TOP_BUILDDIR = path.resolve(process.env.top_builddir || repo);
export const DATA_DIR = path.join(TOP_SRCDIR, "tests", "data");
export const DEFAULT_MODELS_FILE = path.join(TOP_SRCDIR, "etc", "default-models.tsv");
const HFGATE_BIN = process.env.HFGATE_BIN || path.join(TOP_BUILDDIR, "src", "hfgate");
const FAKE_BIN = process.env.HFGATE_FAKE_UPSTREAM ||
    path.join(TOP_BUILDDIR, "tests", "fake_upstream");
const START_TIMEOUT_MS = Number(process.env.HFGATE_TEST_START_TIMEOUT || "20") * 1000;
const SANITIZER_MARKERS = ["ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"];

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Polls fn() until it returns a truthy value; throws after timeoutMs.
export async function waitUntil(fn, timeoutMs, what, intervalMs = 20) {
	const deadline = Date.now() + timeoutMs;
	for (;;) {
		const v = await fn();
		if (v)
			return v;
		if (Date.now() >= deadline)
			throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
		await sleep(intervalMs);
	}
}

function checkExecutable(p, what) {
	try {
		fs.accessSync(p, fs.constants.X_OK);
	} catch {
		throw new Error(`${what} not built: ${p} (run make first)`);
	}
}

// A child process whose output goes to a file and can be matched against a regex.
class Proc {
	constructor(name, argv, opts) {
		this.name = name;
		this.tmp = opts.tmp;
		this.logPath = path.join(this.tmp, `${name}.log`);
		this.out = "";
		this.exit = null;
		this.child = spawn(argv[0], argv.slice(1), {
			stdio: ["ignore", "pipe", "pipe"],
			env: opts.env || process.env,
		});
		const log = fs.createWriteStream(this.logPath);
		this.exited = new Promise((resolve) => {
			this.child.on("exit", (code, signal) => {
				this.exit = { code, signal };
				resolve(this.exit);
			});
		});
		for (const s of ["stdout", "stderr"]) {
			this.child[s].on("data", (d) => {
				this.out += d.toString("utf8");
				log.write(d);
			});
		}
		this.child.on("error", (e) => { this.out += `spawn error: ${e.message}\n`; });
	}

	async waitFor(rx, timeoutMs) {
		return waitUntil(() => {
			const m = rx.exec(this.out);
			if (m)
				return m;
			if (this.exit !== null)
				throw new Error(`${this.name} exited (${JSON.stringify(this.exit)}) ` +
				    `before printing ${rx}:\n${this.out.slice(-4000)}`);
			return null;
		}, timeoutMs, `${this.name} to print ${rx}`);
	}

	// SIGTERM, a bounded wait, then SIGKILL. Returns the exit status.
	async stop(timeoutMs = 15000) {
		if (this.exit === null) {
			this.child.kill("SIGTERM");
			let timer;
			const t = new Promise((r) => { timer = setTimeout(() => r(null), timeoutMs); });
			const r = await Promise.race([this.exited, t]);
			clearTimeout(timer);	/* a pending timer would keep the runner alive */
			if (r === null) {
				this.child.kill("SIGKILL");
				await this.exited;
				this.exit.killed = true;
			}
		}
		return this.exit;
	}

	problems(expectCode = 0) {
		const out = [];
		for (const m of SANITIZER_MARKERS)
			if (this.out.includes(m)) {
				out.push(`${this.name} output has a sanitizer report:\n${this.out.slice(-6000)}`);
				break;
			}
		if (this.exit === null || this.exit.killed || this.exit.code !== expectCode)
			out.push(`${this.name} exit: ${JSON.stringify(this.exit)} (expected ${expectCode})`);
		return out;
	}
}

function renderConfig(sections) {
	const lines = [];
	for (const [name, kv] of Object.entries(sections)) {
		lines.push(`[${name}]`);
		for (const [k, v] of Object.entries(kv))
			lines.push(`${k} = ${v}`);
		lines.push("");
	}
	return lines.join("\n");
}

// The fake upstream and one hfgate in front of it.
export class Stack {
	constructor(extraConfig = {}) {
		this.tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hfgate-clients-"));
		this.extraConfig = extraConfig;
		this.secret = "hf_GATEWAYSECRET_" + Math.random().toString(36).slice(2, 14);
	}

	get fakeUrl() { return `http://127.0.0.1:${this.fakePort}`; }
	get url() { return `http://127.0.0.1:${this.port}`; }

	async start() {
		checkExecutable(FAKE_BIN, "fake upstream");
		checkExecutable(HFGATE_BIN, "hfgate");
		const fargs = [FAKE_BIN, "--port", "0", "--data", DATA_DIR];
		this.fake = new Proc("fake_upstream", fargs, { tmp: this.tmp });
		const m = await this.fake.waitFor(/^PORT (\d+)\n/m, START_TIMEOUT_MS);
		this.fakePort = Number(m[1]);

		const tokenPath = path.join(this.tmp, "token");
		fs.writeFileSync(tokenPath, this.secret + "\n");
		const sections = {
			server: {
				listen: "127.0.0.1:0",
				default_models_file: DEFAULT_MODELS_FILE,
				grace_seconds: "3",
			},
			upstream: {
				url: this.fakeUrl,
				// Model look-ups go to the fake too: tests never leave loopback.
				hub_url: this.fakeUrl,
				token_file: tokenPath,
				connect_timeout_ms: "2000",
				deadline_ms: "20000",
				max_attempts: "3",
				backoff_base_ms: "20",
				backoff_max_ms: "200",
			},
			cache: { enabled: "no" },
		};
		for (const [sec, kv] of Object.entries(this.extraConfig)) {
			sections[sec] = sections[sec] || {};
			for (const [k, v] of Object.entries(kv))
				sections[sec][k] = String(v).replaceAll("{fake_url}", this.fakeUrl);
		}
		this.confPath = path.join(this.tmp, "hfgate.conf");
		fs.writeFileSync(this.confPath, renderConfig(sections));
		const env = { ...process.env };
		for (const k of ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "CREDENTIALS_DIRECTORY",
		    "NOTIFY_SOCKET"])
			delete env[k];
		this.gw = new Proc("hfgate", [HFGATE_BIN, "-c", this.confPath], { tmp: this.tmp, env });
		const g = await this.gw.waitFor(/listening on (?:http:\/\/)?127\.0\.0\.1:(\d+)/, START_TIMEOUT_MS);
		this.port = Number(g[1]);
		return this;
	}

	// Stops both processes; returns a list of problems (sanitizer reports, the
	// token in hfgate's log, bad exit statuses).
	async stop() {
		const problems = [];
		if (this.gw) {
			await this.gw.stop();
			problems.push(...this.gw.problems(0));
			if (this.gw.out.includes(this.secret))
				problems.push("the token appears in hfgate's log");
		}
		if (this.fake) {
			await this.fake.stop();
			problems.push(...this.fake.problems(0));
		}
		if (problems.length === 0 && !process.env.HFGATE_TEST_KEEP)
			fs.rmSync(this.tmp, { recursive: true, force: true });
		return problems;
	}

	async fakeJson(method, p) {
		const r = await fetch(this.fakeUrl + p, { method });
		if (r.status !== 200)
			throw new Error(`fake ${method} ${p} -> ${r.status}`);
		return r.json();
	}

	reset() { return this.fakeJson("POST", "/__fake/reset"); }

	// The fake's logged requests (for upstream path p, if given) once at least n
	// are there: the fake may log a request just after its answer was sent.
	async upstreamRequests(p, n = 1) {
		return waitUntil(async () => {
			let reqs = await this.fakeJson("GET", "/__fake/requests");
			if (p !== undefined)
				reqs = reqs.filter((r) => r.path === p);
			return reqs.length >= n ? reqs : null;
		}, 3000, `${n} upstream request(s) for ${p}`).catch(async (e) => {
			const seen = (await this.fakeJson("GET", "/__fake/requests"))
			    .map((r) => `${r.method} ${r.path}`);
			throw new Error(`${e.message}; the fake saw: ${JSON.stringify(seen)}`);
		});
	}

	async lastUpstream(p) {
		const reqs = await this.upstreamRequests(p);
		return reqs[reqs.length - 1];
	}

	// The JSON body of the fake's last request for p, which must carry hfgate's token.
	async upstreamBody(p) {
		const rec = await this.lastUpstream(p);
		if (rec.headers.authorization !== `Bearer ${this.secret}`)
			throw new Error(`${p}: the upstream request did not carry hfgate's token`);
		return JSON.parse(Buffer.from(rec.body_b64 || "", "base64").toString());
	}

	// The fake's own answer to a request, bypassing hfgate: {status, type, body (Buffer)}.
	async direct(p, body, headers = {}) {
		const r = await fetch(this.fakeUrl + p, { method: "POST", body, headers });
		return {
			status: r.status,
			type: r.headers.get("content-type"),
			body: Buffer.from(await r.arrayBuffer()),
		};
	}
}

// Small real inputs from the recorded client requests (tests/data): a 1x1 PNG and
// a FLAC header, the bytes huggingface_hub v0.18 sent for the image and audio tasks.
export function recordedInputs() {
	const lines = fs.readFileSync(path.join(DATA_DIR, "client-requests-v018.jsonl"), "utf8")
	    .split("\n").filter((l) => l.trim());
	const bodyOf = (p) => {
		for (const l of lines) {
			const e = JSON.parse(l);
			if (e.method !== "POST" || e.path !== p)
				continue;
			const raw = e.body_is_base64 ? Buffer.from(e.body, "base64") :
			    Buffer.from(e.body, "latin1");	/* one code point per byte */
			if (raw.length !== e.body_len)
				throw new Error(`body_len mismatch for ${p}`);
			return raw;
		}
		throw new Error(`no recorded request for ${p}`);
	};
	return {
		png: bodyOf("/models/mock/image-classification"),
		flac: bodyOf("/models/mock/audio-classification"),
	};
}

export function loadDefaultModels() {
	const out = {};
	for (let line of fs.readFileSync(DEFAULT_MODELS_FILE, "utf8").split("\n")) {
		line = line.split("#")[0].trim();
		const parts = line.split(/\s+/);
		if (parts.length >= 2)
			out[parts[0]] = parts[1];
	}
	return out;
}
