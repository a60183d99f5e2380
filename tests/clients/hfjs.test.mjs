// Conformance of hfgate with the official Hugging Face JavaScript client
// (@huggingface/inference 2.6.x, unmodified), backed by the fake upstream.
//
// Every task method of the client is called through hfgate in endpointUrl mode
// (HfInferenceEndpoint), at /models/{id} and at /v1/{task}, with two client
// versions: 2.6.7 (the newest 2.6.x; options as X-Wait-For-Model / X-Use-Cache /
// X-Load-Model headers on every request) and 2.6.4 (the last one with
// conversational(); headers for binary bodies, "options" in JSON bodies: the
// Nov 2023 behaviour of huggingface.js). What the client returns must equal
// what the fake itself answers to the request hfgate sent it, taken the way the
// client takes it.
//
// Run: node --test (Node 18 or later), after `npm ci` in this directory.

import { describe, it, before, after } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import * as hf267 from "@huggingface/inference";
import * as hf264 from "hf-inference-2.6.4";
import { Stack, recordedInputs, loadDefaultModels } from "./harness.mjs";

const CLIENTS = { "2.6.7": hf267, "2.6.4": hf264 };
const CLIENT_TOKEN = "hf_client_token_hfgate_must_drop";
const PIPELINE_TASKS = ["feature-extraction", "sentence-similarity"];
const { png, flac } = recordedInputs();
const DEFAULTS = loadDefaultModels();

const first = (r) => r[0];
const same = (r) => r;
const toArray = (r) => (Array.isArray(r) ? r : [r]);

// Each case: the client method, its arguments, and how the client turns the
// API's JSON answer into its return value (per the client's documented types).
// `blob`: the answer is binary and the client returns it as a Blob.
const CASES = [
	{ task: "text-generation", fn: "textGeneration", pick: first,
	  args: () => ({ inputs: "The answer to the universe is",
	      parameters: { max_new_tokens: 20 } }) },
	{ task: "fill-mask", fn: "fillMask", pick: same,
	  args: () => ({ inputs: "The goal of life is <mask>." }) },
	{ task: "summarization", fn: "summarization", pick: first,
	  args: () => ({ inputs: "The tower is 324 metres (1,063 ft) tall, about the same " +
	      "height as an 81-storey building, and the tallest structure in Paris.",
	      parameters: { max_length: 30 } }) },
	{ task: "question-answering", fn: "questionAnswering", pick: same,
	  args: () => ({ inputs: { question: "What is the meaning of life?", context: "42" } }) },
	{ task: "table-question-answering", fn: "tableQuestionAnswering", pick: same,
	  args: () => ({ inputs: {
	      query: "How many stars does the transformers repository have?",
	      table: { Repository: ["Transformers", "Datasets", "Tokenizers"],
	          Stars: ["36542", "4512", "3934"] } } }) },
	{ task: "text-classification", fn: "textClassification", pick: first,
	  args: () => ({ inputs: "I like you" }) },
	{ task: "token-classification", fn: "tokenClassification", pick: toArray,
	  args: () => ({ inputs: "My name is Sarah Jessica Parker but you can call me Jessica" }) },
	{ task: "translation", fn: "translation", pick: (r) => (r.length === 1 ? r[0] : r),
	  args: () => ({ inputs: "Hello world" }) },
	{ task: "zero-shot-classification", fn: "zeroShotClassification", pick: toArray,
	  args: () => ({ inputs: "A new model offers an explanation for how the Galilean " +
	      "satellites formed.", parameters: { candidate_labels: ["space & cosmos",
	      "scientific discovery", "microbiology"] } }) },
	{ task: "sentence-similarity", fn: "sentenceSimilarity", pick: same,
	  args: () => ({ inputs: { source_sentence: "Machine learning is so easy.",
	      sentences: ["Deep learning is so straightforward.",
	          "This is so difficult, like rocket science."] } }) },
	{ task: "feature-extraction", fn: "featureExtraction", pick: same,
	  args: () => ({ inputs: "Hi, who are you?" }) },
	{ task: "conversational", fn: "conversational", pick: same, only: "2.6.4",
	  args: () => ({ inputs: { text: "Wow, that's scary!",
	      generated_responses: ["I am the one who knocks."],
	      past_user_inputs: ["Hi, who are you?"] } }) },
	{ task: "automatic-speech-recognition", fn: "automaticSpeechRecognition", pick: same,
	  binary: true, args: () => ({ data: new Blob([flac]) }) },
	{ task: "audio-classification", fn: "audioClassification", pick: same,
	  binary: true, args: () => ({ data: new Blob([flac], { type: "audio/flac" }) }) },
	{ task: "text-to-speech", fn: "textToSpeech", blob: true,
	  args: () => ({ inputs: "Hello world" }) },
	{ task: "image-classification", fn: "imageClassification", pick: same,
	  binary: true, args: () => ({ data: new Blob([png], { type: "image/png" }) }) },
	{ task: "object-detection", fn: "objectDetection", pick: same,
	  binary: true, args: () => ({ data: new Blob([png]) }) },
	{ task: "image-segmentation", fn: "imageSegmentation", pick: same,
	  binary: true, args: () => ({ data: new Blob([png]) }) },
	{ task: "image-to-text", fn: "imageToText", pick: first,
	  binary: true, args: () => ({ data: new Blob([png]) }) },
	{ task: "text-to-image", fn: "textToImage", blob: true,
	  args: () => ({ inputs: "An astronaut riding a horse on the moon.",
	      parameters: { height: 256, width: 256 } }) },
	{ task: "image-to-image", fn: "imageToImage", blob: true, binary: true,
	  args: () => ({ inputs: new Blob([png]) }) },
	{ task: "image-to-image", fn: "imageToImage", blob: true, name: "with parameters",
	  args: () => ({ inputs: new Blob([png]), parameters: { prompt: "a cat, oil painting" } }) },
	{ task: "zero-shot-image-classification", fn: "zeroShotImageClassification", pick: same,
	  args: () => ({ inputs: { image: new Blob([png]) },
	      parameters: { candidate_labels: ["tree", "woman", "cat"] } }) },
	{ task: "document-question-answering", fn: "documentQuestionAnswering",
	  pick: (r) => toArray(r)[0],
	  args: () => ({ inputs: { question: "What is the purchase amount?",
	      image: new Blob([png]) } }) },
	{ task: "visual-question-answering", fn: "visualQuestionAnswering", pick: first,
	  args: () => ({ inputs: { question: "Who's in the picture?", image: new Blob([png]) } }) },
	{ task: "tabular-classification", fn: "tabularClassification", pick: same,
	  args: () => ({ inputs: { data: { fixed_acidity: ["7.4", "7.8", "10.3"],
	      volatile_acidity: ["0.7", "0.88", "0.32"], alcohol: ["9.4", "9.8", "10.1"] } } }) },
	{ task: "tabular-regression", fn: "tabularRegression", pick: same,
	  args: () => ({ inputs: { data: { Height: ["11.52", "12.48"], Length1: ["23.2", "24"],
	      Species: ["Bream", "Bream"] } } }) },
];

// A fetch that records what the client sends (and the status it got) and is
// otherwise the global fetch: the client is still the one building the requests.
function recordingFetch() {
	const calls = [];
	const f = async (url, init) => {
		const rec = { url: String(url), headers: { ...(init.headers || {}) }, body: init.body };
		calls.push(rec);
		const r = await fetch(url, init);
		rec.status = r.status;
		return r;
	};
	f.calls = calls;
	return f;
}

async function bodyBytes(body) {
	if (body === undefined || body === null)
		return Buffer.alloc(0);
	if (typeof body === "string")
		return Buffer.from(body, "utf8");
	if (body instanceof Blob)
		return Buffer.from(await body.arrayBuffer());
	return Buffer.from(body);
}

function lowerKeys(h) {
	const out = {};
	for (const [k, v] of Object.entries(h))
		out[k.toLowerCase()] = v;
	return out;
}

const b64 = (rec) => Buffer.from(rec.body_b64 || "", "base64");

// The SSE "data:" payloads of a stream body, parsed.
function sseData(text) {
	return text.split(/\r?\n\r?\n/).map((ev) => ev.split(/\r?\n/)
	    .filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, ""))
	    .join("\n")).filter((d) => d.length > 0).map((d) => JSON.parse(d));
}

const upstreamPath = (task, model) => (PIPELINE_TASKS.includes(task) ?
    `/pipeline/${task}/${model}` : `/models/${model}`);

const stack = new Stack({
	"endpoint tgi": {
		url: "{fake_url}/endpoints/tgi",
		models: "my-org/my-llm",
		task: "text-generation",
	},
});

before(async () => {
	await stack.start();
});

after(async () => {
	const problems = await stack.stop();
	assert.deepEqual(problems, [], problems.join("\n"));
});

// Calls the client; returns {result, calls, up (the upstream request hfgate made)}.
async function run(version, endpointUrl, fn, args, options = {}) {
	const rf = recordingFetch();
	const client = new CLIENTS[version].HfInferenceEndpoint(endpointUrl, CLIENT_TOKEN,
	    { fetch: rf });
	assert.equal(typeof client[fn], "function", `client ${version} has no ${fn}()`);
	const result = await client[fn](args, options);
	return { result, calls: rf.calls };
}

async function consume(iter) {
	const out = [];
	for await (const ev of iter)
		out.push({ t: Date.now(), ev });
	return out;
}

// Checks one task case: the client's result equals the fake's own answer to the
// request hfgate forwarded, taken the way the client takes it.
async function checkCase(c, version, mode) {
	await stack.reset();
	const model = mode === "models" ? `mock/${c.task}` : DEFAULTS[c.task];
	assert.ok(model, `no default model for ${c.task}`);
	const endpointUrl = mode === "models" ? `${stack.url}/models/${model}` :
	    `${stack.url}/v1/${c.task}`;
	const { result, calls } = await run(version, endpointUrl, c.fn, c.args());

	assert.equal(calls.length, 1, "the client made more than one request");
	assert.equal(calls[0].url, endpointUrl);
	const sent = await bodyBytes(calls[0].body);
	const wantPath = mode === "models" ? `/models/${model}` : upstreamPath(c.task, model);
	const up = await stack.lastUpstream(wantPath);
	const ups = await stack.upstreamRequests();
	assert.equal(ups.length, 1, `upstream requests: ${ups.map((r) => r.path)}`);
	assert.equal(up.headers.authorization, `Bearer ${stack.secret}`,
	    "upstream Authorization is not the gateway's token");

	if (mode === "models") {
		assert.ok(b64(up).equals(sent), "the body was not forwarded byte for byte:\n" +
		    `client: ${sent.toString("latin1").slice(0, 300)}\n` +
		    `upstream: ${b64(up).toString("latin1").slice(0, 300)}`);
	} else if (c.binary) {
		assert.ok(b64(up).equals(sent), "binary body not forwarded as is");
	} else {
		checkV1Shape(c.task, JSON.parse(b64(up).toString("utf8")));
	}

	const direct = await stack.direct(up.path, b64(up),
	    up.headers["content-type"] ? { "content-type": up.headers["content-type"] } : {});
	assert.equal(direct.status, 200, `the fake's own answer: ${direct.status}`);
	if (c.blob) {
		assert.ok(result instanceof Blob, "expected a Blob");
		assert.equal(result.type, direct.type);
		assert.ok(Buffer.from(await result.arrayBuffer()).equals(direct.body),
		    "blob bytes differ from the upstream's answer");
	} else {
		assert.match(direct.type, /^application\/json/);
		assert.deepEqual(result, c.pick(JSON.parse(direct.body.toString("utf8"))));
	}
}

// What /v1/{task} sends upstream for the client's JSON bodies: the API's shape
// (docs/api.md "/v1 body shapes per task").
function checkV1Shape(task, body) {
	const labels = (p) => assert.equal(typeof p.parameters?.candidate_labels, "string",
	    `candidate_labels not comma-joined: ${JSON.stringify(p)}`);
	switch (task) {
	case "question-answering":
		assert.equal(body.question, "What is the meaning of life?");
		assert.equal(body.context, "42");
		break;
	case "table-question-answering":
		assert.equal(typeof body.query, "string");
		assert.ok(body.table?.Repository, JSON.stringify(body));
		break;
	case "visual-question-answering":
	case "document-question-answering":
		assert.equal(typeof body.question, "string");
		assert.ok(Buffer.from(body.image, "base64").equals(png), "image not the PNG");
		break;
	case "zero-shot-image-classification":
		assert.ok(Buffer.from(body.image, "base64").equals(png), "image not the PNG");
		labels(body);
		assert.equal(body.parameters.candidate_labels, "tree,woman,cat");
		break;
	case "zero-shot-classification":
		labels(body);
		assert.equal(body.parameters.candidate_labels,
		    "space & cosmos,scientific discovery,microbiology");
		break;
	case "sentence-similarity":
		assert.equal(body.inputs?.source_sentence, "Machine learning is so easy.");
		break;
	case "conversational":
		assert.equal(body.inputs?.text, "Wow, that's scary!");
		break;
	case "tabular-classification":
	case "tabular-regression": {
		const t = body.table ?? body.data ?? body.inputs?.data;
		assert.ok(t && typeof t === "object", `no table upstream: ${JSON.stringify(body)}`);
		break;
	}
	case "image-to-image":
		assert.ok(Buffer.from(body.inputs, "base64").equals(png), "inputs not the PNG");
		assert.equal(body.parameters?.prompt, "a cat, oil painting");
		break;
	default:
		assert.equal(typeof body.inputs, "string", JSON.stringify(body));
	}
}

for (const version of Object.keys(CLIENTS)) {
	for (const mode of ["models", "v1"]) {
		describe(`@huggingface/inference ${version} via ${mode === "models" ?
		    "/models/{id}" : "/v1/{task}"}`, () => {
			for (const c of CASES) {
				if (c.only && c.only !== version)
					continue;
				it(`${c.fn}${c.name ? " " + c.name : ""}`, () => checkCase(c, version, mode));
			}

			it("textGenerationStream", async () => {
				await stack.reset();
				const model = mode === "models" ? "mock/text-generation" :
				    DEFAULTS["text-generation"];
				const url = mode === "models" ? `${stack.url}/models/${model}` :
				    `${stack.url}/v1/text-generation`;
				const rf = recordingFetch();
				const client = new CLIENTS[version].HfInferenceEndpoint(url, CLIENT_TOKEN,
				    { fetch: rf });
				const evs = await consume(client.textGenerationStream({
				    inputs: "The huggingface_hub library is",
				    parameters: { max_new_tokens: 12 } }));
				const up = await stack.lastUpstream(`/models/${model}`);
				assert.equal(JSON.parse(b64(up).toString()).stream, true);
				const direct = await stack.direct(up.path, b64(up),
				    { "content-type": "application/json" });
				assert.match(direct.type, /^text\/event-stream/);
				const want = sseData(direct.body.toString("utf8"));
				assert.ok(want.length >= 2, "the fake's stream has fewer than 2 events");
				assert.deepEqual(evs.map((e) => e.ev), want);
				const last = evs[evs.length - 1].ev;
				assert.equal(last.token.special, true);
				assert.equal(last.generated_text, evs.slice(0, -1)
				    .map((e) => e.ev.token.text).join(""));
			});

			it("textGenerationStream yields tokens as they are generated", async () => {
				await stack.reset();
				// fake/stream-5-300: a token event every 300 ms.
				const url = mode === "models" ? `${stack.url}/models/fake/stream-5-300` :
				    `${stack.url}/v1/text-generation?model=fake/stream-5-300`;
				const client = new CLIENTS[version].HfInferenceEndpoint(url, CLIENT_TOKEN);
				const t0 = Date.now();
				const evs = await consume(client.textGenerationStream({ inputs: "x",
				    parameters: { max_new_tokens: 5 } }));
				assert.ok(evs.length >= 5, `only ${evs.length} events`);
				const span = evs[evs.length - 1].t - evs[0].t;
				const times = evs.map((e) => e.t - t0).join(", ");
				// The fake spreads the events over >= 1.2 s: buffering would
				// deliver them together. One short gap is tolerated (a late
				// event on a loaded machine), not more.
				assert.ok(span >= 900, `first to last event: ${span} ms (buffered?): ${times}`);
				let short = 0;
				for (let i = 1; i < evs.length; i++)
					if (evs[i].t - evs[i - 1].t < 100)
						short++;
				assert.ok(short <= 1, `${short} events arrived < 100 ms after the ` +
				    `previous one (ms since the call: ${times})`);
				const last = evs[evs.length - 1].ev;
				assert.equal(last.token.special, true);
				assert.equal(last.generated_text, evs.slice(0, -1)
				    .map((e) => e.ev.token.text).join(""));
			});
		});
	}
}

describe("options the client sends are honoured", () => {
	const CLS = [[{ label: "POSITIVE", score: 0.99 }]];

	for (const version of Object.keys(CLIENTS)) {
		it(`${version}: wait_for_model: true waits for a loading model`, async () => {
			await stack.reset();
			const url = `${stack.url}/models/fake/loading-1500`;
			const t0 = Date.now();
			const { result, calls } = await run(version, url, "textClassification",
			    { inputs: "I like you" }, { wait_for_model: true });
			assert.deepEqual(result, CLS[0]);
			assert.equal(calls.length, 1);
			assert.ok(Date.now() - t0 >= 1000, "answered before the model loaded");
			const ups = await stack.upstreamRequests("/models/fake/loading-1500", 2);
			const last = ups[ups.length - 1];
			if (version === "2.6.7") {
				assert.equal(lowerKeys(calls[0].headers)["x-wait-for-model"], "true");
				assert.equal(last.headers["x-wait-for-model"], "true");
			} else {
				// 2.6.4 puts the option in the JSON body, forwarded as is.
				assert.deepEqual(JSON.parse(b64(last).toString()).options,
				    { wait_for_model: true });
			}
		});

		it(`${version}: without wait_for_model the gateway still waits`, async () => {
			await stack.reset();
			const url = `${stack.url}/models/fake/loading-1000`;
			const { result, calls } = await run(version, url, "textClassification",
			    { inputs: "I like you" });
			assert.deepEqual(result, CLS[0]);
			assert.deepEqual(calls.map((c) => c.status), [200]);
		});

		it(`${version}: binary body: X-Wait-For-Model, X-Use-Cache, X-Load-Model headers`,
		    async () => {
			await stack.reset();
			const url = `${stack.url}/models/fake/loading-1000`;
			const { result, calls } = await run(version, url, "request",
			    { data: new Blob([png]) },
			    { wait_for_model: true, use_cache: false, dont_load_model: true });
			assert.deepEqual(result, CLS);
			const h = lowerKeys(calls[0].headers);
			assert.equal(h["x-wait-for-model"], "true");
			assert.equal(h["x-use-cache"], "false");
			assert.equal(h["x-load-model"], "0");
			const up = await stack.lastUpstream("/models/fake/loading-1000");
			assert.ok(b64(up).equals(png));
			assert.equal(up.headers["x-wait-for-model"], "true");
			assert.equal(up.headers["x-use-cache"], "false");
			assert.equal(up.headers["x-load-model"], "0");
		});

		it(`${version}: JSON body: use_cache: false reaches the upstream`, async () => {
			await stack.reset();
			const url = `${stack.url}/models/fake/echo`;
			const { result, calls } = await run(version, url, "request",
			    { inputs: "I like you" }, { use_cache: false });
			const up = await stack.lastUpstream("/models/fake/echo");
			const sent = await bodyBytes(calls[0].body);
			assert.ok(b64(up).equals(sent), "body not forwarded byte for byte");
			assert.ok(Buffer.from(result.body_b64, "base64").equals(sent));
			if (version === "2.6.7") {
				assert.equal(lowerKeys(calls[0].headers)["x-use-cache"], "false");
				assert.equal(up.headers["x-use-cache"], "false");
			} else {
				assert.deepEqual(JSON.parse(sent.toString()).options, { use_cache: false });
				assert.deepEqual(JSON.parse(b64(up).toString()).options, { use_cache: false });
			}
		});

		it(`${version}: the same options through /v1/{task}`, async () => {
			await stack.reset();
			const url = `${stack.url}/v1/text-classification?model=fake/loading-1000`;
			const { result } = await run(version, url, "textClassification",
			    { inputs: "I like you" }, { wait_for_model: true, use_cache: false });
			assert.deepEqual(result, CLS[0]);
			const up = await stack.lastUpstream("/models/fake/loading-1000");
			const body = JSON.parse(b64(up).toString());
			assert.equal(body.inputs, "I like you");
			if (version === "2.6.7") {
				assert.equal(up.headers["x-wait-for-model"], "true");
				assert.equal(up.headers["x-use-cache"], "false");
			} else {
				assert.deepEqual(body.options, { wait_for_model: true, use_cache: false });
			}
		});
	}

	it("2.6.4: wait_for_model: false gets the 503, the client's retry waits", async () => {
		// 2.6.4 sends {"options":{"wait_for_model":false}}: hfgate relays the
		// loading 503 at once; the client then retries with wait_for_model: true.
		await stack.reset();
		const url = `${stack.url}/models/fake/loading-1500`;
		const { result, calls } = await run("2.6.4", url, "textClassification",
		    { inputs: "I like you" }, { wait_for_model: false });
		assert.deepEqual(result, CLS[0]);
		assert.deepEqual(calls.map((c) => c.status), [503, 200]);
		assert.deepEqual(JSON.parse(await bodyBytes(calls[1].body)).options,
		    { wait_for_model: true });
	});
});

describe("errors reach the client as the API's", () => {
	const client = () => new hf267.HfInferenceEndpoint(`${stack.url}/models/unknown/model`);

	it("404 unknown model: the upstream's error message", async () => {
		await stack.reset();
		await assert.rejects(client().textClassification({ inputs: "x" }),
		    { message: "Model unknown/model does not exist" });
	});

	it("400 from hfgate (bad model id): its JSON error message", async () => {
		const c = new hf267.HfInferenceEndpoint(`${stack.url}/models/a/b/c`);
		await assert.rejects(c.textClassification({ inputs: "x" }), (e) => {
			assert.ok(e.message.length > 0 && !/fetching the blob/.test(e.message),
			    e.message);
			return true;
		});
	});

	it("422 before the stream: the validation message", async () => {
		await stack.reset();
		const c = new hf267.HfInferenceEndpoint(`${stack.url}/models/fake/stream-422`);
		await assert.rejects(consume(c.textGenerationStream({ inputs: "" })),
		    { message: "Input validation error: `inputs` cannot be empty" });
	});

	it("an error event in the stream: tokens, then the error", async () => {
		await stack.reset();
		const c = new hf267.HfInferenceEndpoint(`${stack.url}/models/fake/stream-error-2`);
		const got = [];
		await assert.rejects((async () => {
			for await (const ev of c.textGenerationStream({ inputs: "x" }))
				got.push(ev);
		})(), { message: "Request failed during generation: out of memory" });
		assert.equal(got.length, 2);
	});

	it("an upstream reset mid-stream: hfgate's incomplete_generation error", async () => {
		await stack.reset();
		const c = new hf267.HfInferenceEndpoint(`${stack.url}/models/fake/stream-reset-5-2`);
		const got = [];
		await assert.rejects((async () => {
			for await (const ev of c.textGenerationStream({ inputs: "x" }))
				got.push(ev);
		})(), (e) => e instanceof Error && e.message.length > 0);
		assert.equal(got.length, 2);
	});
});

describe("dedicated endpoint ([endpoint tgi]) through /endpoints/{name}", () => {
	it("textGeneration", async () => {
		await stack.reset();
		const { result } = await run("2.6.7", `${stack.url}/endpoints/tgi`, "textGeneration",
		    { inputs: "Hello", parameters: { max_new_tokens: 5 } });
		const up = await stack.lastUpstream("/endpoints/tgi");
		const direct = await stack.direct(up.path, b64(up), { "content-type": "application/json" });
		assert.deepEqual(result, JSON.parse(direct.body.toString())[0]);
	});

	it("textGenerationStream", async () => {
		await stack.reset();
		const c = new hf267.HfInferenceEndpoint(`${stack.url}/endpoints/tgi`);
		const evs = await consume(c.textGenerationStream({ inputs: "Hello" }));
		const up = await stack.lastUpstream("/endpoints/tgi");
		const direct = await stack.direct(up.path, b64(up), { "content-type": "application/json" });
		assert.deepEqual(evs.map((e) => e.ev), sseData(direct.body.toString()));
		assert.equal(evs[evs.length - 1].ev.token.special, true);
	});

	it("a model of the endpoint through /models/{id}", async () => {
		await stack.reset();
		const { result } = await run("2.6.7", `${stack.url}/models/my-org/my-llm`,
		    "textGeneration", { inputs: "Hello" });
		assert.equal(typeof result.generated_text, "string");
		await stack.lastUpstream("/endpoints/tgi");
	});
});
