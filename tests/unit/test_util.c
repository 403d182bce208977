/* Unit tests for base/util.c: the parsers every recipe value goes through. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tap.h"
#include "recipe.h"
#include "util.h"

static void test_sizes(void)
{
	uint64_t v = 0;

	ok(parse_size("16M", UINT64_MAX, &v) == 0 && v == 16u << 20, "16M is 16 MiB");
	ok(parse_size("512K", UINT64_MAX, &v) == 0 && v == 512u << 10, "512K is 512 KiB");
	ok(parse_size("2GiB", UINT64_MAX, &v) == 0 && v == 2ull << 30, "2GiB is 2 GiB");
	ok(parse_size("4096", UINT64_MAX, &v) == 0 && v == 4096, "a plain number is bytes");
	ok(parse_size("16Q", UINT64_MAX, &v) < 0, "16Q is not a size");
	ok(parse_size("", UINT64_MAX, &v) < 0, "empty is not a size");
	ok(parse_size("-1M", UINT64_MAX, &v) < 0, "negative is not a size");
	ok(parse_size("99999999999999999999", UINT64_MAX, &v) < 0, "overflow is refused");
	ok(parse_size("17179869184T", UINT64_MAX, &v) < 0, "overflow by unit is refused");
	ok(parse_size("2M", 1u << 20, &v) < 0, "a size above the cap is refused");
}

static void test_durations(void)
{
	uint64_t v = 0;

	ok(parse_duration("30s", UINT32_MAX, &v) == 0 && v == 30, "30s");
	ok(parse_duration("5m", UINT32_MAX, &v) == 0 && v == 300, "5m");
	ok(parse_duration("24h", UINT32_MAX, &v) == 0 && v == 86400, "24h");
	ok(parse_duration("2d", UINT32_MAX, &v) == 0 && v == 172800, "2d");
	ok(parse_duration("10", UINT32_MAX, &v) == 0 && v == 10, "bare seconds");
	ok(parse_duration("1w", UINT32_MAX, &v) < 0, "unknown unit refused");
	ok(parse_duration("1ss", UINT32_MAX, &v) < 0, "trailing junk refused");
}

static void test_paths(void)
{
	ok(path_is_clean("/"), "/ is clean");
	ok(path_is_clean("/var/log/httpd"), "a normal path is clean");
	ok(!path_is_clean("var/log"), "relative refused");
	ok(!path_is_clean("/var/../etc"), ".. refused");
	ok(!path_is_clean("/var/./log"), ". refused");
	ok(!path_is_clean("/var//log"), "// refused");
	ok(!path_is_clean("/var/log/"), "trailing slash refused");
	ok(path_is_clean("/a/..b/c..") , "dots inside names are fine");
}

static void test_modes(void)
{
	mode_t m = 0;

	ok(recipe_mode_apply("0644", 0777, 0, &m) == 0 && m == 0644, "octal");
	ok(recipe_mode_apply("a=rX", 0700, 0, &m) == 0 && m == 0555, "a=rX on an executable file");
	ok(recipe_mode_apply("a=rX", 0600, 0, &m) == 0 && m == 0444, "a=rX on a plain file");
	ok(recipe_mode_apply("a=rX", 0700, 1, &m) == 0 && m == 0555, "a=rX on a directory");
	ok(recipe_mode_apply("u+w,go-w", 0666, 0, &m) == 0 && m == 0644, "two clauses");
	ok(recipe_mode_apply("o=", 0777, 0, &m) == 0 && m == 0770, "o= clears other");
	ok(recipe_mode_apply("+t", 0777, 1, &m) == 0 && m == 01777, "+t sets sticky");
	ok(recipe_mode_apply("a=rq", 0, 0, &m) < 0, "unknown letter refused");
	ok(recipe_mode_apply("0999", 0, 0, &m) < 0, "non-octal digits refused");
	ok(recipe_mode_apply("u", 0, 0, &m) < 0, "missing operator refused");
}

static void test_atomic_write(void)
{
	char dir[] = "/tmp/imgtool-test.XXXXXX", *path, *data = NULL;
	struct error e = { 0 };
	struct stat st;
	size_t len = 0;

	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return;
	}
	path = xasprintf("%s/f", dir);
	ok(write_file_atomic(path, "hello", 5, 0640, &e) == 0, "atomic write");
	ok(read_file(path, 100, &data, &len, &e) == 0 && len == 5 &&
	   !memcmp(data, "hello", 5), "reads back what was written");
	ok(stat(path, &st) == 0 && (st.st_mode & 07777) == 0640, "with its mode");
	free(data);
	ok(read_file(path, 3, &data, &len, &e) < 0 && e.status == 3,
	   "a file over the cap is refused");
	remove_tree(dir);
	ok(access(dir, F_OK) < 0, "remove_tree removes");
	free(path);
}

int main(void)
{
	test_sizes();
	test_durations();
	test_paths();
	test_modes();
	test_atomic_write();
	return tap_done();
}
