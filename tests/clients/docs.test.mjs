// Runs the examples of docs/clients.md against hfgate and the fake upstream and
// compares their output with the output the page shows.
//
// Conventions of docs/clients.md that this relies on:
// - ```js blocks are complete ES modules, run with this node from this
//   directory (so @huggingface/inference resolves); the ```text block that
//   follows is their exact standard output.
// - ```console blocks: "$ cmd" lines (with "\" continuation lines) are run with
//   /bin/sh in a temporary directory; the lines up to the next "$" are the exact
//   output.
// - ```ini blocks are added to hfgate's configuration; an [endpoint NAME] url on
//   *.endpoints.huggingface.cloud is pointed at the fake's /endpoints/NAME.
// - ```python and ```sh blocks are not run (the Python client is covered by
//   replaying its recorded requests; see the last test).
// In every example http://127.0.0.1:8080 stands for the gateway; its OpenAI routes go
// to the fake's router (/router/v1).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Stack, TOP_SRCDIR, DATA_DIR } from "./harness.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const DOC = path.join(TOP_SRCDIR, "docs", "clients.md");
const DOC_URL = "http://127.0.0.1:8080";

function blocks(text) {
	const out = [];
	const rx = /^```(\w*)[^\n]*\n([\s\S]*?)^```[ \t]*$/gm;
	let m;
	while ((m = rx.exec(text)) !== null)
		out.push({ lang: m[1], body: m[2], line: text.slice(0, m.index).split("\n").length });
	return out;
}

function iniSections(body) {
	const out = {};
	let cur = null;
	for (const raw of body.split("\n")) {
		const line = raw.trim();
		let m;
		if (line === "" || line.startsWith("#") || line.startsWith(";"))
			continue;
		if ((m = /^\[(.+)\]$/.exec(line))) {
			cur = out[m[1]] = {};
		} else if ((m = /^([^=]+?)\s*=\s*(.*)$/.exec(line)) && cur) {
			cur[m[1]] = m[2];
		}
	}
	for (const [name, kv] of Object.entries(out)) {
		const ep = /^endpoint\s+(\S+)$/.exec(name);
		if (ep && kv.url)
			kv.url = kv.url.replace(/^https:\/\/[^/]*\.endpoints\.huggingface\.cloud$/,
			    `{fake_url}/endpoints/${ep[1]}`);
	}
	return out;
}

// "$ cmd" lines with continuations, each with its expected output.
function consoleCommands(body) {
	const cmds = [];
	let cont = false;
	for (const line of body.replace(/\n$/, "").split("\n")) {
		if (cont) {
			cmds[cmds.length - 1].cmd += "\n" + line;
			cont = line.endsWith("\\");
		} else if (line.startsWith("$ ")) {
			cmds.push({ cmd: line.slice(2), out: [] });
			cont = line.endsWith("\\");
		} else {
			assert.ok(cmds.length > 0, `output before any command: ${line}`);
			cmds[cmds.length - 1].out.push(line);
		}
	}
	return cmds;
}

const doc = fs.readFileSync(DOC, "utf8");
const all = blocks(doc);
const config = {};
for (const b of all)
	if (b.lang === "ini")
		Object.assign(config, iniSections(b.body));
// The OpenAI examples talk to today's router: the fake's /router.
config.upstream = { ...(config.upstream || {}), openai_url: "{fake_url}/router/v1" };
const stack = new Stack(config);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "hfgate-docs-"));
const gw = (s) => s.replaceAll(DOC_URL, stack.url);
const trimEnd = (s) => s.replace(/\s+$/, "");

before(async () => {
	await stack.start();
});

after(async () => {
	fs.rmSync(tmp, { recursive: true, force: true });
	const problems = await stack.stop();
	assert.deepEqual(problems, [], problems.join("\n"));
});

test("docs/clients.md has examples of each kind", () => {
	const langs = all.map((b) => b.lang);
	for (const l of ["js", "console", "ini", "python"])
		assert.ok(langs.includes(l), `no ${l} example`);
});

all.forEach((b, i) => {
	if (b.lang === "js") {
		test(`docs/clients.md:${b.line}: huggingface.js example`, async () => {
			await stack.reset();
			const next = all[i + 1];
			assert.ok(next && next.lang === "text",
			    "a js example must be followed by a text block with its output");
			const r = spawnSync(process.execPath, ["--input-type=module", "-e", gw(b.body)],
			    { cwd: here, encoding: "utf8", timeout: 60000 });
			assert.equal(r.status, 0, `exit ${r.status} ${r.signal ?? ""}\n${r.stderr}`);
			assert.equal(trimEnd(r.stdout), trimEnd(next.body));
		});
	} else if (b.lang === "console") {
		test(`docs/clients.md:${b.line}: shell example`, async () => {
			await stack.reset();
			for (const c of consoleCommands(b.body)) {
				const r = spawnSync("/bin/sh", ["-c", gw(c.cmd)],
				    { cwd: tmp, encoding: "utf8", timeout: 60000 });
				assert.equal(r.status, 0, `${c.cmd}: exit ${r.status}\n${r.stderr}`);
				assert.equal(trimEnd(r.stdout), trimEnd(c.out.join("\n")), c.cmd);
			}
		});
	}
});

// InferenceClient(model="http://gateway/endpoints/my-llm").text_generation(...):
// huggingface_hub v0.18 posts its recorded TGI payload to that URL as it is.
test("huggingface_hub v0.18 text_generation requests through /endpoints/{name}", async () => {
	const name = Object.keys(config).map((s) => /^endpoint\s+(\S+)$/.exec(s))
	    .find((m) => m)?.[1];
	assert.ok(name, "docs/clients.md configures no endpoint");
	const recorded = fs.readFileSync(path.join(DATA_DIR, "client-requests-v018.jsonl"), "utf8")
	    .split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l))
	    .filter((e) => e.path === "/models/mock/tgi");
	const pick = (stream) => recorded.find((e) => JSON.parse(e.body).stream === stream);
	for (const stream of [false, true]) {
		const e = pick(stream);
		assert.ok(e, `no recorded text_generation request with stream=${stream}`);
		const headers = Object.fromEntries(e.headers.filter(([k]) =>
		    !["host", "content-length", "connection"].includes(k.toLowerCase())));
		await stack.reset();
		const r = await fetch(`${stack.url}/endpoints/${name}`, { method: "POST",
		    headers, body: Buffer.from(e.body, "latin1") });
		const got = Buffer.from(await r.arrayBuffer());
		assert.equal(r.status, 200, got.toString());
		const up = await stack.lastUpstream(`/endpoints/${name}`);
		assert.equal(Buffer.from(up.body_b64, "base64").toString("latin1"), e.body);
		assert.equal(up.headers.authorization, `Bearer ${stack.secret}`);
		const direct = await stack.direct(up.path, Buffer.from(e.body, "latin1"),
		    { "content-type": "application/json" });
		assert.equal(r.headers.get("content-type"), direct.type);
		assert.match(direct.type, stream ? /^text\/event-stream/ : /^application\/json/);
		assert.ok(got.equals(direct.body), "answer differs from the endpoint's");
	}
});
