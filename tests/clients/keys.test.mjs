// The official Hugging Face JavaScript client (@huggingface/inference 2.6.7,
// unmodified) against a gateway with client keys: a team's key goes where
// the client takes its Hugging Face token, nothing else changes; refusals (401, 403,
// 429) reach the app as the client's own errors, with hfgate's message.
//
// Run: node --test (Node 18 or later), after `npm ci` in this directory.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { HfInferenceEndpoint } from "@huggingface/inference";
import { Stack } from "./harness.mjs";

const KEY = "team-key-" + crypto.randomBytes(8).toString("hex");
const LIMITED = "limited-key-" + crypto.randomBytes(8).toString("hex");
const sha = (s) => crypto.createHash("sha256").update(s).digest("hex");

let stack;

before(async () => {
	stack = await new Stack({
		"client team": { key_sha256: sha(KEY), tasks: "fill-mask text-generation" },
		"client limited": { key_sha256: sha(LIMITED), rate: 1 },
	}).start();
});

after(async () => {
	const problems = stack ? await stack.stop() : [];
	assert.deepEqual(problems, []);
	assert.ok(!stack.gw.out.includes(KEY) && !stack.gw.out.includes(LIMITED),
	    "a client key appears in hfgate's log");
});

describe("@huggingface/inference 2.6.7 with a client key", () => {
	it("fillMask with the key as its token; the HF token goes upstream", async () => {
		await stack.reset();
		const client = new HfInferenceEndpoint(`${stack.url}/models/mock/fill-mask`, KEY);
		const r = await client.fillMask({ inputs: "The goal of life is <mask>." });
		assert.ok(Array.isArray(r) && r.length > 0 && typeof r[0].token_str === "string");
		const up = await stack.lastUpstream("/models/mock/fill-mask");
		const auth = Object.entries(up.headers)
		    .find(([k]) => k.toLowerCase() === "authorization");
		assert.equal(auth[1], `Bearer ${stack.secret}`);
		assert.ok(!JSON.stringify(up).includes(KEY));
	});

	it("textGenerationStream with the key", async () => {
		const client = new HfInferenceEndpoint(`${stack.url}/models/mock/text-generation`,
		    KEY);
		const evs = [];
		for await (const ev of client.textGenerationStream({ inputs: "Hi",
		    parameters: { max_new_tokens: 5 } }))
			evs.push(ev);
		assert.ok(evs.length >= 2);
		assert.equal(evs[evs.length - 1].token.special, true);
	});

	it("a wrong key is the client's error, with hfgate's message", async () => {
		const client = new HfInferenceEndpoint(`${stack.url}/models/mock/fill-mask`,
		    "not-a-key");
		await assert.rejects(client.fillMask({ inputs: "a <mask>" }),
		    /unknown client key/);
	});

	it("a task outside the client's rights is the client's error", async () => {
		const client = new HfInferenceEndpoint(
		    `${stack.url}/models/mock/text-classification`, KEY);
		await assert.rejects(client.textClassification({ inputs: "I like you" }),
		    /may not use task 'text-classification'/);
	});

	it("a client over its rate gets the 429 as an error", async () => {
		const client = new HfInferenceEndpoint(`${stack.url}/models/mock/fill-mask`,
		    LIMITED);
		await client.fillMask({ inputs: "first <mask>" });
		await assert.rejects(client.fillMask({ inputs: "second <mask>" }),
		    /over its rate of 1 requests per minute/);
	});
});
