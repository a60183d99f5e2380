// The 2023 JavaScript client (@huggingface/inference 2.6.7 and 2.6.4, unmodified) on
// today's Hugging Face: hfgate in front of the fake router, which has no TGI route for
// the LLMs, translates its text-generation and conversational calls to the router's
// OpenAI API and the answers back (docs/api.md, "The 2023 clients on today's API").
// Each answer is checked as the app gets it, and the call the router got.
//
// Run: node --test (Node 18 or later), after `npm ci` in this directory.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import * as hf267 from "@huggingface/inference";
import * as hf264 from "hf-inference-2.6.4";
import { Stack } from "./harness.mjs";

let stack;

before(async () => {
	stack = await new Stack({ upstream: { url: "{fake_url}/router/hf-inference" } }).start();
});

after(async () => {
	const problems = stack ? await stack.stop() : [];
	assert.deepEqual(problems, []);
});

for (const [version, hf] of Object.entries({ "2.6.7": hf267, "2.6.4": hf264 })) {
	describe(`@huggingface/inference ${version} on today's router`, () => {
		const model = (id) => new hf.HfInferenceEndpoint(`${stack.url}/models/${id}`,
		    "hf_client_token_hfgate_must_drop");

		it("textGeneration", async () => {
			await stack.reset();
			const r = await model("mock/text-generation").textGeneration({
			    inputs: "one two three", parameters: { max_new_tokens: 3,
			    return_full_text: false } });
			assert.deepEqual(r, { generated_text: "echo: one two" });
			const sent = await stack.upstreamBody("/router/v1/completions");
			assert.equal(sent.prompt, "one two three");
			assert.equal(sent.max_tokens, 3);
		});

		it("textGeneration without return_full_text: the prompt in front, as in 2023",
		    async () => {
			const r = await model("mock/text-generation").textGeneration({
			    inputs: "Once upon " });
			assert.deepEqual(r, { generated_text: "Once upon echo: Once upon" });
		});

		it("textGenerationStream: the tokens, then the final event", async () => {
			const tokens = [];
			let last = null;
			for await (const out of model("mock/text-generation").textGenerationStream({
			    inputs: "a b c", parameters: { return_full_text: false, details: true } })) {
				if (out.generated_text === null)
					tokens.push(out.token.text);
				else
					last = out;
			}
			assert.deepEqual(tokens, ["echo:", " a", " b", " c"]);
			assert.equal(last.generated_text, "echo: a b c");
			assert.equal(last.details.finish_reason, "eos_token");
			assert.equal(last.details.generated_tokens, 4);
		});

		it("an error in the stream reaches the app as an error", async () => {
			await assert.rejects(async () => {
				// eslint-disable-next-line no-unused-vars
				for await (const _ of model("fake/oai-error").textGenerationStream({
				    inputs: "x y z" }))
					;
			}, /Request failed during generation: out of memory/);
		});

		if (version === "2.6.4") {
			it("conversational: the history both ways", async () => {
				await stack.reset();
				const r = await model("mock/conversational").conversational({
				    inputs: { text: "Hi", past_user_inputs: ["b"],
				    generated_responses: ["a"] } });
				assert.equal(r.generated_text, "echo: Hi");
				assert.deepEqual(r.conversation, {
				    generated_responses: ["a", "echo: Hi"], past_user_inputs: ["b", "Hi"] });
				const sent = await stack.upstreamBody("/router/v1/chat/completions");
				assert.deepEqual(sent.messages, [
				    { role: "user", content: "b" }, { role: "assistant", content: "a" },
				    { role: "user", content: "Hi" }]);
			});
		}
	});
}
