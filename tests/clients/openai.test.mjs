// Today's clients, unmodified, against hfgate in front of the fake router (the fake's
// /router: today's Hugging Face) and an OpenAI-protocol endpoint (the fake's /vllm):
// the openai SDK (7.60.0, what `npm install openai` gives, and 6.30.1) with
// baseURL = GW/v1, and @huggingface/inference 4.13.30 with endpointUrl = GW. Each
// call's answer is checked as the app sees it, and the request the router got.
//
// Run: node --test (Node 18 or later), after `npm ci` in this directory.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import OpenAI7 from "openai";
import OpenAI6 from "openai-6";
import { InferenceClient } from "hf-inference-4";
import { Stack } from "./harness.mjs";

const LLM = "meta-llama/Llama-3.1-8B-Instruct";
const EMB = "sentence-transformers/all-MiniLM-L6-v2";

let stack;

before(async () => {
	stack = await new Stack({
		upstream: { url: "{fake_url}/router/hf-inference" },
		"endpoint vllm": { url: "{fake_url}/vllm", models: "acme/llm" },
	}).start();
});

after(async () => {
	const problems = stack ? await stack.stop() : [];
	assert.deepEqual(problems, []);
});

for (const [name, OpenAI] of [["openai 7.60.0", OpenAI7], ["openai 6.30.1", OpenAI6]]) {
	describe(`${name} with baseURL = GW/v1`, () => {
		const client = () => new OpenAI({ baseURL: `${stack.url}/v1`, apiKey: "unused",
		    maxRetries: 0 });

		it("chat.completions.create", async () => {
			await stack.reset();
			const r = await client().chat.completions.create({ model: LLM,
			    messages: [{ role: "user", content: "hi there" }] });
			assert.equal(r.choices[0].message.content, "echo: hi there");
			assert.equal(r.choices[0].finish_reason, "stop");
			const sent = await stack.upstreamBody("/router/v1/chat/completions");
			assert.equal(sent.model, LLM);
		});

		it("chat.completions.create streamed, to its last chunk", async () => {
			await stack.reset();
			const stream = await client().chat.completions.create({ model: LLM,
			    stream: true, messages: [{ role: "user", content: "one two" }] });
			let text = "", finish = null, usage = null;
			for await (const chunk of stream) {
				if (chunk.usage)
					usage = chunk.usage;
				for (const c of chunk.choices) {
					text += c.delta.content || "";
					finish = c.finish_reason || finish;
				}
			}
			assert.equal(text.replace(/\s+/g, " ").trim(), "echo: one two");
			assert.equal(finish, "stop");
			assert.equal(usage, null, "the usage chunk hfgate asked for reached the app");
		});

		it("a stream cut upstream throws in the app", async () => {
			const stream = await client().chat.completions.create({
			    model: "fake/oai-cut", stream: true,
			    messages: [{ role: "user", content: "x" }] });
			await assert.rejects(async () => {
				for await (const chunk of stream)
					void chunk;
			});
		});

		it("completions.create", async () => {
			const r = await client().completions.create({ model: "gpt2",
			    prompt: "one two three", max_tokens: 3 });
			assert.equal(typeof r.choices[0].text, "string");
			assert.ok(r.choices[0].text.length > 0);
		});

		it("embeddings.create (base64, the SDK's default) and float", async () => {
			const b = await client().embeddings.create({ model: EMB, input: "Hi there" });
			const f = await client().embeddings.create({ model: EMB, input: "Hi there",
			    encoding_format: "float" });
			assert.equal(b.data.length, 1);
			// Both through hf-inference's feature-extraction (docs/api.md,
			// "Embeddings on the router"): the SDK decodes hfgate's base64.
			assert.deepEqual(Array.from(b.data[0].embedding), f.data[0].embedding);
			assert.equal(f.data[0].embedding.length, 16);
			await stack.upstreamBody("/router/hf-inference/models/" + EMB +
			    "/pipeline/feature-extraction");
		});

		it("models.list and models.retrieve", async () => {
			const ids = [];
			for await (const m of client().models.list())
				ids.push(m.id);
			assert.ok(ids.includes(LLM), ids.join(" "));
			const m = await client().models.retrieve(LLM);
			assert.equal(m.id, LLM);
		});

		it("an endpoint's model goes to the endpoint", async () => {
			await stack.reset();
			const r = await client().chat.completions.create({ model: "acme/llm",
			    messages: [{ role: "user", content: "hello" }] });
			assert.equal(r.choices[0].message.content, "echo: hello");
			await stack.upstreamBody("/vllm/v1/chat/completions");
		});

		it("a 400 of the router reaches the app as an APIError", async () => {
			await assert.rejects(client().chat.completions.create({ model: "a b",
			    messages: [] }), (e) => e.status === 400);
		});
	});
}

describe("@huggingface/inference 4.13.30", () => {
	it("chatCompletion with endpointUrl = GW and no model: the default one", async () => {
		await stack.reset();
		const hf = new InferenceClient("unused");
		const r = await hf.chatCompletion({ endpointUrl: stack.url,
		    messages: [{ role: "user", content: "good day" }] });
		assert.equal(r.choices[0].message.content, "echo: good day");
		const sent = await stack.upstreamBody("/router/v1/chat/completions");
		assert.equal(sent.model, LLM);
	});

	it("chatCompletionStream with a model", async () => {
		const hf = new InferenceClient("unused");
		let text = "";
		for await (const chunk of hf.chatCompletionStream({ endpointUrl: `${stack.url}/v1`,
		    model: LLM, messages: [{ role: "user", content: "a b c" }] })) {
			for (const c of chunk.choices || [])
				text += c.delta?.content || "";
		}
		assert.equal(text.replace(/\s+/g, " ").trim(), "echo: a b c");
	});
});
