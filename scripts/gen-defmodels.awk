# gen-defmodels.awk: writes src/defmodels.c, the default-model table built into hfgate,
# from etc/default-models.tsv (make runs it: POSIX awk, nothing else needed to build
# from a tarball). Reads the file the way task_defaults_load (src/task.c) does:
# whitespace-separated "task model", '#' starting a field begins a comment, blank lines
# skipped. A line that is not "task model", or a name with a character outside
# [A-Za-z0-9._/-], fails the build: the names become C string literals unescaped.
#
# Usage: awk -f scripts/gen-defmodels.awk etc/default-models.tsv >src/defmodels.c

function fail(msg) {
	printf "%s:%d: %s\n", FILENAME, FNR, msg | "cat 1>&2"
	failed = 1
	exit 1
}

BEGIN {
	n = 0
	failed = 0
}

{
	sub(/\r$/, "")		# a CRLF file, as task_defaults_load's isspace() takes it
	nf = 0
	for (i = 1; i <= NF; i++) {
		if (substr($i, 1, 1) == "#")
			break
		nf++
	}
	if (nf == 0)
		next
	if (nf == 1)
		fail("expected \"task model\"")
	if (nf > 2)
		fail("extra field after model")
	if ($1 !~ /^[A-Za-z0-9._\/-]+$/ || $2 !~ /^[A-Za-z0-9._\/-]+$/)
		fail("a character outside [A-Za-z0-9._/-]")
	task[n] = $1
	model[n] = $2
	n++
}

END {
	if (failed)
		exit 1
	print "/* Generated from etc/default-models.tsv by scripts/gen-defmodels.awk: do not edit. */"
	print "#include <stddef.h>"
	print ""
	print "#include \"defmodels.h\""
	print ""
	print "const struct defmodels_entry defmodels_table[] = {"
	for (i = 0; i < n; i++)
		printf "\t{ \"%s\", \"%s\" },\n", task[i], model[i]
	print "\t{ NULL, NULL }"
	print "};"
}
