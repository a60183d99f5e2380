/* SPDX-License-Identifier: BSD-2-Clause */
/* Unit tests for task.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <cJSON.h>

#include "check_main.h"
#include "task.h"

#define FIXTURE	TEST_DATA_DIR "/models-fixture.tsv"

START_TEST(test_table)
{
	const struct task_info	*t, *prev = NULL;
	size_t			 i, j;

	for (i = 0; i < TASK_COUNT; i++) {
		t = task_at(i);
		ck_assert_ptr_nonnull(t);
		ck_assert_ptr_nonnull(t->name);
		if (prev != NULL)
			ck_assert_msg(strcmp(prev->name, t->name) < 0,
			    "%s before %s", prev->name, t->name);
		for (j = 0; j < i; j++)
			ck_assert_str_ne(task_at(j)->name, t->name);
		ck_assert_ptr_eq(task_find(t->name), t);
		ck_assert_uint_eq(task_index(t), i);
		prev = t;
	}
	ck_assert_ptr_null(task_at(TASK_COUNT));
	ck_assert_str_eq(task_at(0)->name, "audio-classification");
	ck_assert_str_eq(task_at(TASK_COUNT - 1)->name,
	    "zero-shot-image-classification");
}
END_TEST

START_TEST(test_find)
{
	const struct task_info	*t;
	size_t			 i, npipeline = 0, nbinary = 0;

	ck_assert_ptr_null(task_find("text2text-generation"));
	ck_assert_ptr_null(task_find("Text-Classification"));
	ck_assert_ptr_null(task_find("text-classification "));
	ck_assert_ptr_null(task_find(""));
	ck_assert_ptr_null(task_find("tasks"));
	ck_assert_ptr_null(task_find(NULL));

	for (i = 0; i < TASK_COUNT; i++) {
		t = task_at(i);
		npipeline += t->pipeline;
		nbinary += t->input == TASK_IN_BINARY;
	}
	/* Only these two go upstream as /pipeline/{task}/{model}. */
	ck_assert_uint_eq(npipeline, 2);
	ck_assert_int_eq(task_find("feature-extraction")->pipeline, 1);
	ck_assert_int_eq(task_find("sentence-similarity")->pipeline, 1);
	ck_assert_int_eq(task_find("text-classification")->pipeline, 0);

	ck_assert_uint_eq(nbinary, 6);
	ck_assert_int_eq(task_find("automatic-speech-recognition")->input,
	    TASK_IN_BINARY);
	ck_assert_int_eq(task_find("object-detection")->input, TASK_IN_BINARY);
	ck_assert_int_eq(task_find("image-to-image")->input,
	    TASK_IN_IMAGE_OR_JSON);
	ck_assert_int_eq(task_find("visual-question-answering")->input,
	    TASK_IN_JSON);
	ck_assert_int_eq(task_find("text-to-speech")->input, TASK_IN_JSON);

	ck_assert_str_eq(task_find("text-to-image")->accept, "image/png");
	ck_assert_str_eq(task_find("image-to-image")->accept, "image/png");
	ck_assert_ptr_null(task_find("text-to-speech")->accept);
	ck_assert_ptr_null(task_find("text-generation")->accept);
}
END_TEST

static const char *
model_of(char *const models[TASK_COUNT], const char *task)
{
	return (models[task_index(task_find(task))]);
}

START_TEST(test_defaults_fixture)
{
	char	*models[TASK_COUNT];
	char	 err[512];
	size_t	 i, n = 0;

	ck_assert_msg(task_defaults_load(FIXTURE, models, err, sizeof(err))
	    == 0, "%s", err);
	ck_assert_str_eq(model_of(models, "text-classification"),
	    "distilbert-base-uncased-finetuned-sst-2-english");
	ck_assert_str_eq(model_of(models, "feature-extraction"),
	    "sentence-transformers/all-MiniLM-L6-v2");
	ck_assert_str_eq(model_of(models, "image-to-image"),
	    "timbrooks/instruct-pix2pix");
	ck_assert_str_eq(model_of(models, "summarization"),
	    "facebook/bart-large-cnn");
	ck_assert_str_eq(model_of(models, "zero-shot-image-classification"),
	    "openai/clip-vit-large-patch14-336");
	for (i = 0; i < TASK_COUNT; i++)
		n += models[i] != NULL;
	ck_assert_uint_eq(n, 5);
	ck_assert_ptr_null(model_of(models, "text-generation"));
	task_defaults_free(models);
	for (i = 0; i < TASK_COUNT; i++)
		ck_assert_ptr_null(models[i]);
	task_defaults_free(models);	/* twice is harmless */
}
END_TEST

/* Writes text to a new temporary file; the caller unlinks path. */
static void
write_temp(char path[64], const char *text)
{
	int	 fd;
	size_t	 len = strlen(text);

	snprintf(path, 64, "/tmp/check_task.XXXXXX");
	fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	ck_assert_int_eq(close(fd), 0);
}

/* Loads text expecting failure; checks err is "path:suffix". */
static void
load_fails(const char *text, const char *suffix)
{
	char	 path[64], want[256], err[512];
	char	*models[TASK_COUNT];
	size_t	 i;

	write_temp(path, text);
	for (i = 0; i < TASK_COUNT; i++)
		models[i] = (char *)"garbage";
	ck_assert_int_eq(task_defaults_load(path, models, err, sizeof(err)),
	    -1);
	snprintf(want, sizeof(want), "%s%s", path, suffix);
	ck_assert_str_eq(err, want);
	/* Nothing half-loaded is left behind. */
	for (i = 0; i < TASK_COUNT; i++)
		ck_assert_ptr_null(models[i]);
	unlink(path);
}

START_TEST(test_defaults_errors)
{
	load_fails("# header\n\ntext-classification a/b/c\n",
	    ":3: invalid model id");
	load_fails("fill-mask bert-base-uncased\ntranslation\n",
	    ":2: expected \"task model\"");
	/* Even an unknown task needs its model field. */
	load_fails("text2text-generation\n", ":1: expected \"task model\"");
	load_fails("fill-mask\tbert-base-uncased extra\n",
	    ":1: extra field after model");
	load_fails("\n\n\n\nsummarization ../x\n", ":5: invalid model id");
	load_fails("summarization caf\xc3\xa9\n", ":1: invalid model id");
}
END_TEST

START_TEST(test_defaults_edge)
{
	char	 path[64], err[512];
	char	*models[TASK_COUNT];

	/* CRLF endings, no final newline, a later line overriding an earlier one,
	   an unknown task with a model that would be invalid for a known task. */
	write_temp(path, "fill-mask a\r\n  \t \r\nfill-mask org/b\r\n"
	    "text-to-video x/y/z\n#translation t5-small\ntranslation t5-base");
	ck_assert_msg(task_defaults_load(path, models, err, sizeof(err)) == 0,
	    "%s", err);
	ck_assert_str_eq(model_of(models, "fill-mask"), "org/b");
	ck_assert_str_eq(model_of(models, "translation"), "t5-base");
	task_defaults_free(models);
	unlink(path);

	/* An empty file is valid and sets nothing. */
	write_temp(path, "");
	ck_assert_int_eq(task_defaults_load(path, models, err, sizeof(err)), 0);
	ck_assert_ptr_null(model_of(models, "fill-mask"));
	task_defaults_free(models);
	unlink(path);
}
END_TEST

START_TEST(test_defaults_missing_file)
{
	char	*models[TASK_COUNT];
	char	 err[512];

	ck_assert_int_eq(task_defaults_load(TEST_DATA_DIR "/no-such-file.tsv",
	    models, err, sizeof(err)), -1);
	ck_assert_str_eq(err, TEST_DATA_DIR "/no-such-file.tsv: "
	    "No such file or directory");
	task_defaults_free(models);
}
END_TEST

/* The table built in is etc/default-models.tsv, read the way the file is read. */
START_TEST(test_defaults_builtin)
{
	char	*file[TASK_COUNT], *builtin[TASK_COUNT];
	char	 err[512];
	size_t	 i;

	ck_assert_msg(task_defaults_load(TOP_SRCDIR "/etc/default-models.tsv", file,
	    err, sizeof(err)) == 0, "%s", err);
	ck_assert_msg(task_defaults_builtin(builtin, err, sizeof(err)) == 0, "%s",
	    err);
	for (i = 0; i < TASK_COUNT; i++) {
		ck_assert_msg(file[i] != NULL, "no default for %s", task_at(i)->name);
		ck_assert_msg(builtin[i] != NULL, "no built-in default for %s",
		    task_at(i)->name);
		ck_assert_str_eq(builtin[i], file[i]);
	}
	task_defaults_free(file);
	task_defaults_free(builtin);
}
END_TEST

START_TEST(test_api_tasks_json)
{
	char	*models[TASK_COUNT] = { NULL };
	char	*s;
	cJSON	*root, *t, *w, *m;
	size_t	 i;

	models[task_index(task_find("text-classification"))] =
	    (char *)"distilbert/distilbert-base-uncased-finetuned-sst-2-english";
	ck_assert_ptr_nonnull(s = task_api_tasks_json(models));
	ck_assert_ptr_null(strchr(s, '\n'));	/* unformatted */
	ck_assert_ptr_nonnull(root = cJSON_Parse(s));
	ck_assert(cJSON_IsObject(root));
	ck_assert_int_eq(cJSON_GetArraySize(root), TASK_COUNT);
	for (i = 0; i < TASK_COUNT; i++) {
		t = cJSON_GetObjectItemCaseSensitive(root, task_at(i)->name);
		ck_assert_msg(cJSON_IsObject(t), "%s", task_at(i)->name);
		ck_assert_str_eq(cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(t, "id")), task_at(i)->name);
		w = cJSON_GetObjectItemCaseSensitive(t, "widgetModels");
		m = cJSON_GetObjectItemCaseSensitive(t, "models");
		ck_assert(cJSON_IsArray(w));
		ck_assert(cJSON_IsArray(m));
		if (models[i] == NULL) {
			ck_assert_int_eq(cJSON_GetArraySize(w), 0);
			ck_assert_int_eq(cJSON_GetArraySize(m), 0);
			continue;
		}
		ck_assert_int_eq(cJSON_GetArraySize(w), 1);
		ck_assert_str_eq(cJSON_GetStringValue(cJSON_GetArrayItem(w, 0)),
		    models[i]);
		ck_assert_int_eq(cJSON_GetArraySize(m), 1);
		ck_assert_str_eq(cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(m, 0),
		    "id")), models[i]);
	}
	cJSON_Delete(root);
	free(s);
}
END_TEST

START_TEST(test_v1_tasks_json)
{
	char	*models[TASK_COUNT];
	char	*s, err[512];
	cJSON	*root, *v;

	ck_assert_msg(task_defaults_load(FIXTURE, models, err, sizeof(err))
	    == 0, "%s", err);
	ck_assert_ptr_nonnull(s = task_v1_tasks_json(models));
	ck_assert_ptr_nonnull(root = cJSON_Parse(s));
	ck_assert_int_eq(cJSON_GetArraySize(root), TASK_COUNT);
	v = cJSON_GetObjectItemCaseSensitive(root, "feature-extraction");
	ck_assert_str_eq(cJSON_GetStringValue(v),
	    "sentence-transformers/all-MiniLM-L6-v2");
	v = cJSON_GetObjectItemCaseSensitive(root, "text-generation");
	ck_assert(cJSON_IsNull(v));
	ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(root,
	    "text2text-generation"));
	cJSON_Delete(root);
	free(s);
	task_defaults_free(models);
}
END_TEST

Suite *
check_suite(void)
{
	Suite	*s = suite_create("task");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_table);
	tcase_add_test(tc, test_find);
	tcase_add_test(tc, test_defaults_fixture);
	tcase_add_test(tc, test_defaults_errors);
	tcase_add_test(tc, test_defaults_edge);
	tcase_add_test(tc, test_defaults_missing_file);
	tcase_add_test(tc, test_defaults_builtin);
	tcase_add_test(tc, test_api_tasks_json);
	tcase_add_test(tc, test_v1_tasks_json);
	suite_add_tcase(s, tc);
	return (s);
}
