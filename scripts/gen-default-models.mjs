#!/usr/bin/env node
// gen-default-models.mjs: regenerates etc/default-models.tsv, the default model per
// task, from the widgetModels of the @huggingface/tasks npm package (the data the Hub
// serves at GET /api/tasks). Maintainer tool only: the build never runs it and never
// needs npm; the generated file is kept in the source tree.
//
// Usage: node scripts/gen-default-models.mjs [OUTPUT]
//   OUTPUT defaults to etc/default-models.tsv next to this script's parent directory.
// Environment:
//   HFGATE_TASKS_VERSION  package version to install (default: PINNED_VERSION below)
//   NPM                   npm command (default: npm)
//
// 0.10.2 is pinned because it is the oldest version still published on the registry,
// so its table is the closest to the one huggingface_hub v0.18 saw (June 2023): it has
// 25 of the 26 tasks hfgate serves; "conversational" had already been dropped and
// comes from FALLBACK below.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const PINNED_VERSION = "0.10.2";
const PACKAGE = "@huggingface/tasks";

// The 26 tasks of the HF Inference API that hfgate serves (src/task.c).
const SERVED = [
	"audio-classification", "automatic-speech-recognition", "conversational",
	"document-question-answering", "feature-extraction", "fill-mask",
	"image-classification", "image-segmentation", "image-to-image", "image-to-text",
	"object-detection", "question-answering", "sentence-similarity", "summarization",
	"table-question-answering", "tabular-classification", "tabular-regression",
	"text-classification", "text-generation", "text-to-image", "text-to-speech",
	"token-classification", "translation", "visual-question-answering",
	"zero-shot-classification", "zero-shot-image-classification",
];

// ---- FALLBACK TABLE -------------------------------------------------------------
// Used ONLY for served tasks that the installed package has no widgetModel for.
// Values: the Hub's widgetModels of June 2023 (hub-ci recordings, the GET /api/tasks
// answer in tests/data/cassettes.json). Not read from the package.
const FALLBACK = {
	"audio-classification": "facebook/mms-lid-126",
	"automatic-speech-recognition": "openai/whisper-large-v2",
	"conversational": "facebook/blenderbot-400M-distill",
	"document-question-answering": "impira/layoutlm-document-qa",
	"feature-extraction": "facebook/bart-base",
	"fill-mask": "distilroberta-base",
	"image-classification": "google/vit-base-patch16-224",
	"image-segmentation": "facebook/detr-resnet-50-panoptic",
	"image-to-image": "lllyasviel/sd-controlnet-canny",
	"image-to-text": "Salesforce/blip-image-captioning-base",
	"object-detection": "facebook/detr-resnet-50",
	"question-answering": "deepset/roberta-base-squad2",
	"sentence-similarity": "sentence-transformers/all-MiniLM-L6-v2",
	"summarization": "sshleifer/distilbart-cnn-12-6",
	"table-question-answering": "google/tapas-base-finetuned-wtq",
	"tabular-classification": "scikit-learn/tabular-playground",
	"tabular-regression": "scikit-learn/Fish-Weight",
	"text-classification": "distilbert-base-uncased-finetuned-sst-2-english",
	"text-generation": "tiiuae/falcon-7b-instruct",
	"text-to-image": "CompVis/stable-diffusion-v1-4",
	"text-to-speech": "microsoft/speecht5_tts",
	"token-classification": "dslim/bert-base-NER",
	"translation": "t5-small",
	"visual-question-answering": "dandelin/vilt-b32-finetuned-vqa",
	"zero-shot-classification": "facebook/bart-large-mnli",
	"zero-shot-image-classification": "openai/clip-vit-large-patch14-336",
};
// ---- end of FALLBACK TABLE ------------------------------------------------------

// Same rule as hfgate's modelid_valid: a bad id here would make the daemon
// refuse the file at start-up, so fail now instead.
function validModelId(id) {
	if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)?$/.test(id) || id.length > 255)
		return false;
	return id.split("/").every((p) => p !== "." && p !== "..");
}

function bytewiseCompare(a, b) {
	return a < b ? -1 : a > b ? 1 : 0;
}

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "..");
const output = resolve(process.argv[2] ?? join(root, "etc", "default-models.tsv"));
const version = process.env.HFGATE_TASKS_VERSION || PINNED_VERSION;
const npm = process.env.NPM || "npm";

const tmp = mkdtempSync(join(tmpdir(), "hfgate-tasks-"));
try {
	execFileSync(npm, ["install", "--prefix", tmp, "--no-audit", "--no-fund",
	    "--no-save", "--ignore-scripts", `${PACKAGE}@${version}`],
	    { stdio: ["ignore", "ignore", "inherit"] });

	// Resolve from the temporary prefix so the package's own "exports" map picks the
	// build (dist/index.cjs); the tasks data object is its TASKS_DATA export.
	const req = createRequire(join(tmp, "package.json"));
	// package.json is not in the "exports" map: read it from the install tree.
	const installed = JSON.parse(readFileSync(join(tmp, "node_modules", PACKAGE,
	    "package.json"), "utf8")).version;
	const { TASKS_DATA } = req(PACKAGE);
	if (TASKS_DATA === null || typeof TASKS_DATA !== "object")
		throw new Error(`${PACKAGE}@${installed} does not export TASKS_DATA`);

	const table = new Map();
	for (const [task, data] of Object.entries(TASKS_DATA)) {
		const first = data?.widgetModels?.[0];
		if (typeof first !== "string" || first === "")
			continue;
		if (!validModelId(first))
			throw new Error(`${task}: invalid model id ${JSON.stringify(first)}`);
		table.set(task, first);
	}

	const fromFallback = [];
	for (const task of SERVED) {
		if (table.has(task))
			continue;
		if (!(task in FALLBACK))
			throw new Error(`${task}: not in the package nor in FALLBACK`);
		table.set(task, FALLBACK[task]);
		fromFallback.push(task);
	}

	const cmd = "node " + relative(root, fileURLToPath(import.meta.url)) +
	    (process.argv[2] ? " " + process.argv[2] : "");
	const lines = [
		"# Default model per task for hfgate: task<TAB>model.",
		"# GENERATED FILE, do not edit: change [default-models] in hfgate.conf instead.",
		`# Generated by: ${cmd}` +
		    (process.env.HFGATE_TASKS_VERSION ? ` (HFGATE_TASKS_VERSION=${version})` : ""),
		`# Source: npm package ${PACKAGE}@${installed}, TASKS_DATA[task].widgetModels[0]`,
		"# (tasks whose first widgetModel is missing or empty are left out).",
		fromFallback.length === 0
		    ? "# Fallback: none (every served task came from the package)."
		    : "# Fallback (not in the package; June 2023 Hub values): " +
		      fromFallback.join(", "),
	];
	for (const task of [...table.keys()].sort(bytewiseCompare))
		lines.push(`${task}\t${table.get(task)}`);
	writeFileSync(output, lines.join("\n") + "\n");

	process.stderr.write(`wrote ${output}: ${table.size} tasks from ${PACKAGE}@${installed}` +
	    (fromFallback.length ? `, fallback: ${fromFallback.join(", ")}` : "") + "\n");
} catch (e) {
	process.stderr.write(`gen-default-models: ${e.message}\n`);
	process.exitCode = 1;
} finally {
	rmSync(tmp, { recursive: true, force: true });
}
