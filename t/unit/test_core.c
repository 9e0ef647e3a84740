/* Unit tests of the core pieces with no crypto: configuration merge rules,
 * FHIR instants and OperationOutcomes, the route table and the discovery
 * documents. */
#include <stdlib.h>
#include <string.h>

#include <apr_pools.h>
#include <apr_strings.h>
#include <jansson.h>

#include "unit.h"
#include "dpc_auth.h"
#include "dpc_config.h"
#include "dpc_fhir.h"
#include "dpc_header.h"
#include "dpc_meta.h"
#include "dpc_route.h"
#include "dpc_token.h"

static apr_pool_t *pool;

static void setup(void)
{
    apr_pool_create(&pool, NULL);
}

static void teardown(void)
{
    apr_pool_destroy(pool);
}

/* ---- configuration ------------------------------------------------------ */

START_TEST(srv_create_is_unset_and_getters_default)
{
    dpc_global_conf *g = dpc_global_conf_create(pool);
    dpc_srv_conf *c = dpc_srv_conf_create(pool, g);

    ck_assert_ptr_eq(c->global, g);
    ck_assert_int_eq(g->workers, DPC_UNSET);
    ck_assert_ptr_null(g->export_root);
    ck_assert_ptr_null(g->worker_db);
    ck_assert_int_eq(dpc_conf_workers(g), 1);
    ck_assert_int_eq(dpc_conf_key_min_bits(c), 4096);
    ck_assert_int_eq(dpc_conf_roster_cap(c), 5000);
    ck_assert_int_eq(dpc_conf_attribution_days(c), 90);
    ck_assert_int_eq(dpc_conf_resources_per_file(c), 100000);
    ck_assert_int_eq(dpc_conf_export_batch(c), 200);
    ck_assert_int_eq(dpc_conf_export_gzip(c), 0);
    ck_assert(dpc_conf_file_lifetime(c) == apr_time_from_sec(86400));
}
END_TEST

START_TEST(srv_merge_takes_add_where_set_else_base)
{
    dpc_global_conf *g = dpc_global_conf_create(pool);
    dpc_srv_conf *base = dpc_srv_conf_create(pool, g);
    dpc_srv_conf *add = dpc_srv_conf_create(pool, NULL);
    dpc_srv_conf *m;

    g->workers = 3;
    g->export_root = "/var/dpc";
    base->roster_cap = 10;
    add->roster_cap = 20;
    add->resources_per_file = 7;
    m = dpc_srv_conf_merge(pool, base, add);
    /* one module-wide record, the main server's, whatever the vhost */
    ck_assert_ptr_eq(m->global, g);
    ck_assert_int_eq(dpc_conf_workers(m->global), 3);
    ck_assert_str_eq(m->global->export_root, "/var/dpc");
    ck_assert_int_eq(m->roster_cap, 20);
    /* the export settings may differ per vhost: a kick-off writes them on
     * its job row */
    ck_assert_int_eq(dpc_conf_resources_per_file(m), 7);
    ck_assert_int_eq(dpc_conf_resources_per_file(base), 100000);
    ck_assert_int_eq(m->key_min_bits, DPC_UNSET);
    ck_assert_int_eq(dpc_conf_key_min_bits(m), 4096);
    /* Off in a virtual host overrides On in the main server */
    base->export_gzip = 1;
    add->export_gzip = 0;
    ck_assert_int_eq(dpc_conf_export_gzip(dpc_srv_conf_merge(pool, base, add)), 0);
    add->export_gzip = DPC_UNSET;
    ck_assert_int_eq(dpc_conf_export_gzip(dpc_srv_conf_merge(pool, base, add)), 1);
    /* a value equal to the default still counts as set */
    base->key_min_bits = 2048;
    add->key_min_bits = 4096;
    ck_assert_int_eq(dpc_srv_conf_merge(pool, base, add)->key_min_bits, 4096);
    /* the inputs are not modified */
    ck_assert_int_eq(base->roster_cap, 10);
}
END_TEST

START_TEST(dir_merge_keeps_parent_base_for_nested_locations)
{
    dpc_dir_conf *top = dpc_dir_conf_create(pool, NULL);
    dpc_dir_conf *api = dpc_dir_conf_create(pool, "/api/v2/");
    dpc_dir_conf *nested = dpc_dir_conf_create(pool, "/api/v2/data");
    dpc_dir_conf *m1, *m2;

    ck_assert_str_eq(api->base_path, "/api/v2");
    ck_assert_ptr_eq(dpc_conf_dialect(top), &dpc_dialect_none);
    api->dialect = &dpc_dialect_dpc_v2;
    m1 = dpc_dir_conf_merge(pool, top, api);
    ck_assert_ptr_eq(dpc_conf_dialect(m1), &dpc_dialect_dpc_v2);
    ck_assert_str_eq(m1->base_path, "/api/v2");
    nested->public_url = "https://x.example/api/v2";
    m2 = dpc_dir_conf_merge(pool, m1, nested);
    ck_assert_ptr_eq(dpc_conf_dialect(m2), &dpc_dialect_dpc_v2);
    ck_assert_str_eq(m2->base_path, "/api/v2");
    ck_assert_str_eq(m2->public_url, "https://x.example/api/v2");
    /* a nested section that switches dialect routes from its own path */
    nested->dialect = &dpc_dialect_dpc_v1;
    ck_assert_str_eq(dpc_dir_conf_merge(pool, m1, nested)->base_path, "/api/v2/data");
}
END_TEST

/* DPCEncryptFiles: the dialect's default until a section says, and a
 * nested section keeps what its parent said. */
START_TEST(dir_merge_encrypt_files)
{
    dpc_dir_conf *v1 = dpc_dir_conf_create(pool, "/api/v1");
    dpc_dir_conf *v2 = dpc_dir_conf_create(pool, "/api/v2");
    dpc_dir_conf *nested = dpc_dir_conf_create(pool, "/api/v1/x");

    ck_assert_int_eq(dpc_conf_encrypt_files(v1), 0);        /* no dialect */
    v1->dialect = &dpc_dialect_bcda_v1;
    v2->dialect = &dpc_dialect_bcda_v2;
    ck_assert_int_eq(dpc_conf_encrypt_files(v1), 1);
    ck_assert_int_eq(dpc_conf_encrypt_files(v2), 0);
    v1->encrypt_files = 0;
    v2->encrypt_files = 1;
    ck_assert_int_eq(dpc_conf_encrypt_files(v1), 0);
    ck_assert_int_eq(dpc_conf_encrypt_files(v2), 1);
    ck_assert_int_eq(dpc_conf_encrypt_files(dpc_dir_conf_merge(pool, v1, nested)), 0);
    nested->encrypt_files = 1;
    ck_assert_int_eq(dpc_conf_encrypt_files(dpc_dir_conf_merge(pool, v1, nested)), 1);
    /* DPC's dialects never encrypt by default */
    v1->dialect = &dpc_dialect_dpc_v1;
    v1->encrypt_files = DPC_UNSET;
    ck_assert_int_eq(dpc_conf_encrypt_files(v1), 0);
}
END_TEST

START_TEST(directive_values_are_parsed_strictly)
{
    int v = 0;
    apr_interval_time_t t = 0;
    const dpc_dialect *a = NULL;

    ck_assert_ptr_null(dpc_parse_int(pool, "DPCWorkers", "4", 0, 64, &v));
    ck_assert_int_eq(v, 4);
    ck_assert_ptr_nonnull(dpc_parse_int(pool, "DPCWorkers", "65", 0, 64, &v));
    ck_assert_ptr_nonnull(dpc_parse_int(pool, "DPCWorkers", "4x", 0, 64, &v));
    ck_assert_ptr_nonnull(dpc_parse_int(pool, "DPCWorkers", "", 0, 64, &v));
    ck_assert_ptr_nonnull(strstr(dpc_parse_int(pool, "DPCWorkers", "-1", 0, 64, &v),
                                 "DPCWorkers"));
    ck_assert_ptr_null(dpc_parse_duration(pool, "D", "24h", &t));
    ck_assert(t == apr_time_from_sec(86400));
    ck_assert_ptr_null(dpc_parse_duration(pool, "D", "90", &t));
    ck_assert(t == apr_time_from_sec(90));
    ck_assert_ptr_nonnull(dpc_parse_duration(pool, "D", "5w", &t));
    ck_assert_ptr_nonnull(dpc_parse_duration(pool, "D", "0s", &t));
    ck_assert_ptr_null(dpc_parse_api(pool, "dpc-v2", &a));
    ck_assert_ptr_eq(a, &dpc_dialect_dpc_v2);
    ck_assert_ptr_null(dpc_parse_api(pool, "DPC-V1", &a));
    ck_assert_ptr_eq(a, &dpc_dialect_dpc_v1);
    ck_assert_ptr_null(dpc_parse_api(pool, "none", &a));
    ck_assert(!dpc_dialect_serves(a));
    ck_assert_str_eq(dpc_parse_api(pool, "fhir", &a),
                     "DPCAPI must be one of: dpc-v2, dpc-v1, bcda-v2, bcda-v1, ab2d-v2, "
                     "ab2d-v1, none");
}
END_TEST

Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("merge");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, srv_create_is_unset_and_getters_default);
    tcase_add_test(tc, srv_merge_takes_add_where_set_else_base);
    tcase_add_test(tc, dir_merge_keeps_parent_base_for_nested_locations);
    tcase_add_test(tc, dir_merge_encrypt_files);
    tcase_add_test(tc, directive_values_are_parsed_strictly);
    suite_add_tcase(s, tc);
    return s;
}

/* ---- FHIR ---------------------------------------------------------------- */

START_TEST(instants_parse_with_zones_and_fractions)
{
    apr_time_t t, z;
    const char *why;

    ck_assert_int_eq(dpc_instant_parse("2024-02-29T12:00:00Z", &z, &why), 0);
    ck_assert(z == apr_time_from_sec(1709208000));
    ck_assert_int_eq(dpc_instant_parse("2024-02-29T14:30:00+02:30", &t, &why), 0);
    ck_assert(t == z);
    ck_assert_int_eq(dpc_instant_parse("2024-02-29T07:00:00-05:00", &t, &why), 0);
    ck_assert(t == z);
    ck_assert_int_eq(dpc_instant_parse("2024-02-29T12:00:00.25Z", &t, &why), 0);
    ck_assert(t == z + 250000);
    ck_assert_str_eq(dpc_instant_format(pool, t), "2024-02-29T12:00:00.250Z");
}
END_TEST

START_TEST(instants_reject_what_is_not_one)
{
    static const char *bad[] = {
        "2024-02-29", "2024-02-29T12:00:00", "2023-02-29T12:00:00Z",
        "2024-13-01T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T00:00:00Zjunk",
        "2024-01-01 00:00:00Z", "2024-01-01T00:00:00 02:00", "2024-01-01T00:00:00.Z",
        "", "yesterday",
    };
    apr_time_t t;
    const char *why;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why = NULL;
        ck_assert_msg(dpc_instant_parse(bad[i], &t, &why) == -1, "accepted %s", bad[i]);
        ck_assert_ptr_nonnull(why);
    }
}
END_TEST

START_TEST(operation_outcome_shape)
{
    json_t *v = json_loads(dpc_oo_simple(pool, DPC_ISSUE_NOT_FOUND, "no \"such\" thing"),
                           0, NULL);
    json_t *issue;

    ck_assert_ptr_nonnull(v);
    ck_assert_str_eq(json_string_value(json_object_get(v, "resourceType")),
                     "OperationOutcome");
    issue = json_array_get(json_object_get(v, "issue"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(issue, "severity")), "error");
    ck_assert_str_eq(json_string_value(json_object_get(issue, "code")), "not-found");
    ck_assert_str_eq(json_string_value(json_object_get(issue, "diagnostics")),
                     "no \"such\" thing");
    json_decref(v);
}
END_TEST

Suite *fhir_suite(void)
{
    Suite *s = suite_create("fhir");
    TCase *tc = tcase_create("basics");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, instants_parse_with_zones_and_fractions);
    tcase_add_test(tc, instants_reject_what_is_not_one);
    tcase_add_test(tc, operation_outcome_shape);
    suite_add_tcase(s, tc);
    return s;
}

/* ---- routes -------------------------------------------------------------- */

START_TEST(routes_match_paths_and_methods)
{
    dpc_route_match m;

    ck_assert_int_eq(dpc_route_find(pool, &dpc_dialect_dpc_v2, "/metadata", DPC_M_GET, &m),
                     DPC_ROUTE_FOUND);
    ck_assert_int_eq(m.route->op, DPC_OP_METADATA);
    ck_assert(m.route->flags & DPC_ROUTE_PUBLIC);
    ck_assert_int_eq(dpc_route_find(pool, &dpc_dialect_dpc_v1, "metadata", DPC_M_HEAD, &m),
                     DPC_ROUTE_FOUND);
    ck_assert_int_eq(dpc_route_find(pool, &dpc_dialect_dpc_v2,
                                    "/.well-known/smart-configuration", DPC_M_GET, &m),
                     DPC_ROUTE_FOUND);
    ck_assert_int_eq(m.route->op, DPC_OP_SMART_CONFIG);
    ck_assert_int_eq(dpc_route_find(pool, &dpc_dialect_dpc_v2, "/metadata", DPC_M_POST, &m),
                     DPC_ROUTE_BAD_METHOD);
    ck_assert_str_eq(dpc_route_allow(pool, m.allowed), "GET, HEAD");
    ck_assert_int_eq(dpc_route_find(pool, &dpc_dialect_dpc_v2, "/metadata/x", DPC_M_GET, &m),
                     DPC_ROUTE_NOT_FOUND);
    ck_assert_int_eq(dpc_route_find(pool, &dpc_dialect_dpc_v2, "/Nothing", DPC_M_GET, &m),
                     DPC_ROUTE_NOT_FOUND);
    ck_assert_int_eq(dpc_route_find(pool, &dpc_dialect_dpc_v2, "/", DPC_M_GET, &m),
                     DPC_ROUTE_NOT_FOUND);
    ck_assert_int_eq(dpc_route_find(pool, &dpc_dialect_none, "/metadata", DPC_M_GET, &m),
                     DPC_ROUTE_NOT_FOUND);
}
END_TEST

START_TEST(routes_bind_params_and_prefer_literal_paths)
{
    dpc_route_match m;

    ck_assert_int_eq(dpc_route_find(pool, &dpc_dialect_dpc_v2, "/Token/abc-123", DPC_M_DELETE,
                                    &m), DPC_ROUTE_FOUND);
    ck_assert_int_eq(m.route->op, DPC_OP_TOKEN_DELETE);
    ck_assert(m.route->flags & DPC_ROUTE_WRITE);
    ck_assert_int_eq(m.nparams, 1);
    ck_assert_str_eq(m.params[0], "abc-123");
    ck_assert_int_eq(dpc_route_find(pool, &dpc_dialect_dpc_v2, "/Token/auth", DPC_M_POST, &m),
                     DPC_ROUTE_FOUND);
    ck_assert_int_eq(m.route->op, DPC_OP_TOKEN_AUTH);
    ck_assert_int_eq(m.nparams, 0);
    /* GET on the literal path is not "read the token called auth" */
    ck_assert_int_eq(dpc_route_find(pool, &dpc_dialect_dpc_v2, "/Token/auth", DPC_M_GET, &m),
                     DPC_ROUTE_BAD_METHOD);
    ck_assert_str_eq(dpc_route_allow(pool, m.allowed), "POST");
    ck_assert_int_eq(dpc_route_find(pool, &dpc_dialect_dpc_v2, "/Key", DPC_M_PUT, &m),
                     DPC_ROUTE_BAD_METHOD);
    ck_assert_str_eq(dpc_route_allow(pool, m.allowed), "GET, HEAD, POST");
    ck_assert_int_eq(dpc_route_find(pool, &dpc_dialect_dpc_v2, "/Key/a/b", DPC_M_GET, &m),
                     DPC_ROUTE_NOT_FOUND);
}
END_TEST

/* A dialect whose token endpoint is a path of its own beside the base, as
 * BCDA's /auth/token is beside /api/v1. */
static const dpc_route beside_routes[] = {
    { "/auth/token", DPC_M_POST, DPC_OP_TOKEN_AUTH, DPC_ROUTE_PUBLIC },
    { "metadata", DPC_M_GET, DPC_OP_METADATA, DPC_ROUTE_PUBLIC },
    { "Jobs/*", DPC_M_GET, DPC_OP_JOB_STATUS, 0 },
    { NULL, 0, 0, 0 }
};

START_TEST(routes_reach_a_token_endpoint_beside_the_base)
{
    dpc_dialect d = dpc_dialect_dpc_v1;
    dpc_route_match m;

    d.routes = beside_routes;
    d.token_path = "/auth/token";
    /* <Location /auth/token>: nothing below its base, the host path matches */
    ck_assert_int_eq(dpc_route_find_at(pool, &d, "/auth/token", "", DPC_M_POST, &m),
                     DPC_ROUTE_FOUND);
    ck_assert_int_eq(m.route->op, DPC_OP_TOKEN_AUTH);
    /* <Location /auth>, or a request outside any base */
    ck_assert_int_eq(dpc_route_find_at(pool, &d, "/auth/token", "/token", DPC_M_POST, &m),
                     DPC_ROUTE_FOUND);
    ck_assert_int_eq(dpc_route_find_at(pool, &d, "/auth/token", NULL, DPC_M_POST, &m),
                     DPC_ROUTE_FOUND);
    ck_assert_int_eq(dpc_route_find_at(pool, &d, "/auth/token", NULL, DPC_M_GET, &m),
                     DPC_ROUTE_BAD_METHOD);
    ck_assert_str_eq(dpc_route_allow(pool, m.allowed), "POST");
    /* below the API's base, the host path is not the token endpoint */
    ck_assert_int_eq(dpc_route_find_at(pool, &d, "/api/v1/auth/token", "/auth/token",
                                       DPC_M_POST, &m), DPC_ROUTE_NOT_FOUND);
    ck_assert_int_eq(dpc_route_find_at(pool, &d, "/auth/token/x", NULL, DPC_M_POST, &m),
                     DPC_ROUTE_NOT_FOUND);
    /* the base's own routes still match the path below it */
    ck_assert_int_eq(dpc_route_find_at(pool, &d, "/api/v1/Jobs/42", "/Jobs/42", DPC_M_GET,
                                       &m), DPC_ROUTE_FOUND);
    ck_assert_str_eq(m.params[0], "42");
    ck_assert_int_eq(dpc_route_find_at(pool, &d, "/metadata", NULL, DPC_M_GET, &m),
                     DPC_ROUTE_NOT_FOUND);
}
END_TEST

/* Every dialect that issues tokens routes its own token_path to the token
 * operation (a descriptor and its route table cannot drift apart). */
START_TEST(routes_every_dialect_reaches_its_token_endpoint)
{
    dpc_route_match m;
    int i, n = 0;

    for (i = 0; dpc_dialects[i]; i++) {
        const dpc_dialect *d = dpc_dialects[i];
        int absolute;

        if (d->grant == DPC_GRANT_NONE)
            continue;
        absolute = d->token_path[0] == '/';
        ck_assert_msg(dpc_route_find_at(pool, d, absolute ? d->token_path : NULL,
                                        absolute ? NULL : d->token_path, DPC_M_POST, &m)
                      == DPC_ROUTE_FOUND, "%s: no route for %s", d->name, d->token_path);
        ck_assert_int_eq(m.route->op, DPC_OP_TOKEN_AUTH);
        ck_assert(m.route->flags & DPC_ROUTE_PUBLIC);
        n++;
    }
    ck_assert_int_ge(n, 2);
}
END_TEST

Suite *route_suite(void)
{
    Suite *s = suite_create("route");
    TCase *tc = tcase_create("match");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, routes_match_paths_and_methods);
    tcase_add_test(tc, routes_bind_params_and_prefer_literal_paths);
    tcase_add_test(tc, routes_reach_a_token_endpoint_beside_the_base);
    tcase_add_test(tc, routes_every_dialect_reaches_its_token_endpoint);
    suite_add_tcase(s, tc);
    return s;
}

/* ---- discovery ----------------------------------------------------------- */

static const char *jstr(json_t *o, const char *path)
{
    json_t *v = o;
    char *copy = strdup(path), *save = NULL, *k;
    const char *r;

    for (k = strtok_r(copy, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
        v = json_is_array(v) ? json_array_get(v, (size_t)atoi(k)) : json_object_get(v, k);
    free(copy);
    r = json_string_value(v);
    return r ? r : "(missing)";
}

START_TEST(capability_statement_r4_and_stu3)
{
    json_t *r4 = dpc_meta_capability(&dpc_dialect_dpc_v2, "https://h.example/api/v2", "1.2",
                                     apr_time_from_sec(1700000000));
    json_t *s3 = dpc_meta_capability(&dpc_dialect_dpc_v1, "https://h.example/api/v1", "1.2",
                                     apr_time_from_sec(1700000000));

    ck_assert_str_eq(jstr(r4, "resourceType"), "CapabilityStatement");
    ck_assert_str_eq(jstr(r4, "fhirVersion"), "4.0.1");
    ck_assert_str_eq(jstr(s3, "fhirVersion"), "3.0.2");
    ck_assert_str_eq(jstr(r4, "date"), "2023-11-14");
    ck_assert_str_eq(jstr(r4, "instantiates.0"),
                     "http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data");
    ck_assert_str_eq(jstr(r4, "rest.0.security.extension.0.url"),
                     "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris");
    ck_assert_str_eq(jstr(r4, "rest.0.security.extension.0.extension.0.valueUri"),
                     "https://h.example/api/v2/Token/auth");
    ck_assert_str_eq(jstr(r4, "rest.0.security.service.0.coding.0.system"),
                     "http://terminology.hl7.org/CodeSystem/restful-security-service");
    ck_assert_str_eq(jstr(s3, "rest.0.security.service.0.coding.0.system"),
                     "http://hl7.org/fhir/restful-security-service");
    ck_assert_str_eq(jstr(s3, "acceptUnknown"), "extensions");
    /* resources come from the route table */
    ck_assert_str_eq(jstr(r4, "rest.0.resource.0.type"), "Organization");
    ck_assert_str_eq(jstr(r4, "rest.0.resource.0.interaction.0.code"), "search-type");
    ck_assert_str_eq(jstr(r4, "rest.0.resource.2.type"), "Patient");
    ck_assert_str_eq(jstr(r4, "rest.0.resource.2.operation.2.name"), "everything");
    ck_assert_ptr_null(json_object_get(r4, "acceptUnknown"));
    json_decref(r4);
    json_decref(s3);
}
END_TEST

/* Every descriptor is whole, names are unique, and questions asked of the
 * descriptor answer what each dialect's guide says. */
START_TEST(dialect_descriptors_are_whole)
{
    int i, j;

    ck_assert_ptr_eq(dpc_dialects[0], &dpc_dialect_none);
    ck_assert(!dpc_dialect_serves(&dpc_dialect_none));
    ck_assert(!dpc_dialect_serves(NULL));
    ck_assert_ptr_null(dpc_dialect_none.routes[0].pattern);
    for (i = 1; dpc_dialects[i]; i++) {
        const dpc_dialect *d = dpc_dialects[i];

        ck_assert_msg(dpc_dialect_serves(d), "%s", d->name);
        ck_assert_ptr_nonnull(d->routes[0].pattern);
        ck_assert_ptr_nonnull(d->token_path);
        ck_assert_ptr_nonnull(d->fhir_release);
        ck_assert_ptr_nonnull(d->capability_id);
        /* a manifest's file extensions: both or neither (BCDA's files
         * are {"type", "url"} only) */
        ck_assert_int_eq(d->ext_checksum == NULL, d->ext_file_length == NULL);
        ck_assert_ptr_nonnull(d->token_audience);
        ck_assert_ptr_nonnull(d->software_name);
        ck_assert_int_ne(d->grant, DPC_GRANT_NONE);
        ck_assert(d->access_token_seconds > 0
                  && d->access_token_seconds <= DPC_AB2D_ACCESS_TOKEN_LIFETIME);
        ck_assert_ptr_eq(dpc_dialect_find(d->name), d);
        for (j = 0; j < i; j++)
            ck_assert_str_ne(dpc_dialects[j]->name, d->name);
    }
    ck_assert_ptr_null(dpc_dialect_find("dpc-v3"));
    ck_assert_ptr_null(dpc_dialect_find(NULL));
    ck_assert_int_eq(dpc_dialect_dpc_v2.fhir_version, DPC_FHIR_R4);
    /* BCDA: the guides' token endpoint, Basic, 20 minutes, integer jobs,
     * uuid files, and tokens no DPC route takes */
    ck_assert_str_eq(dpc_dialect_bcda_v1.token_path, "/auth/token");
    ck_assert_int_eq(dpc_dialect_bcda_v2.grant, DPC_GRANT_BASIC);
    ck_assert_int_eq(dpc_dialect_bcda_v1.access_token_seconds, 1200);
    ck_assert_int_eq(dpc_dialect_bcda_v1.fhir_version, DPC_FHIR_STU3);
    ck_assert_int_eq(dpc_dialect_bcda_v2.job_id_form, DPC_JOB_ID_NUMBER);
    ck_assert_int_eq(dpc_dialect_bcda_v2.file_naming, DPC_FILES_UUID);
    ck_assert_int_eq(dpc_dialect_dpc_v2.file_naming, DPC_FILES_TYPED);
    ck_assert_str_ne(dpc_dialect_bcda_v2.token_audience, dpc_dialect_dpc_v2.token_audience);
    ck_assert_int_eq(dpc_dialect_dpc_v1.fhir_version, DPC_FHIR_STU3);
    ck_assert(dpc_dialect_dpc_v2.key_pop_required);
    ck_assert(!dpc_dialect_dpc_v1.key_pop_required);
    /* AB2D: the guide's token path, Basic with scope clientCreds, an hour,
     * uuid jobs at Job/{id}/$status, contract-numbered files downloaded
     * once, 403 for what it refuses; only v1 refuses _until */
    ck_assert_str_eq(dpc_dialect_ab2d_v1.token_path, "/oauth2/aus2r7y3gdaFMKBol297/v1/token");
    ck_assert_int_eq(dpc_dialect_ab2d_v2.grant, DPC_GRANT_BASIC);
    ck_assert_str_eq(dpc_dialect_ab2d_v2.token_scope, "clientCreds");
    ck_assert_ptr_null(dpc_dialect_bcda_v2.token_scope);
    ck_assert_int_eq(dpc_dialect_ab2d_v1.access_token_seconds, 3600);
    ck_assert_int_eq(dpc_dialect_ab2d_v1.fhir_version, DPC_FHIR_STU3);
    ck_assert_int_eq(dpc_dialect_ab2d_v2.fhir_version, DPC_FHIR_R4);
    ck_assert_int_eq(dpc_dialect_ab2d_v2.job_id_form, DPC_JOB_ID_UUID);
    ck_assert_str_eq(dpc_dialect_ab2d_v2.job_path, "Job/%s/$status");
    ck_assert_int_eq(dpc_dialect_ab2d_v2.file_naming, DPC_FILES_CONTRACT);
    ck_assert_int_eq(dpc_dialect_ab2d_v2.download_limit, 1);
    ck_assert_int_eq(dpc_dialect_bcda_v2.download_limit, 0);
    ck_assert(dpc_dialect_ab2d_v2.refuse_with_403 && !dpc_dialect_bcda_v2.refuse_with_403);
    ck_assert(!dpc_dialect_ab2d_v1.until_allowed && dpc_dialect_ab2d_v2.until_allowed);
    ck_assert_str_ne(dpc_dialect_ab2d_v2.token_audience, dpc_dialect_bcda_v2.token_audience);
}
END_TEST

/* A token endpoint below the base, or on a path of its own beside it. */
START_TEST(token_url_below_or_beside_the_base)
{
    dpc_dialect beside = dpc_dialect_dpc_v1;
    apr_pool_t *p;

    apr_pool_create(&p, NULL);
    ck_assert_str_eq(dpc_meta_token_url(p, &dpc_dialect_dpc_v1, "https://h.example:8443/api/v1"),
                     "https://h.example:8443/api/v1/Token/auth");
    beside.token_path = "/auth/token";
    ck_assert_str_eq(dpc_meta_token_url(p, &beside, "https://h.example:8443/api/v1"),
                     "https://h.example:8443/auth/token");
    ck_assert_str_eq(dpc_meta_token_url(p, &beside, "http://h.example"),
                     "http://h.example/auth/token");
    apr_pool_destroy(p);
}
END_TEST

START_TEST(smart_configuration_has_what_the_spec_requires)
{
    json_t *sc = dpc_meta_smart_config(&dpc_dialect_dpc_v2, "https://h.example/api/v2");
    json_t *caps = json_object_get(sc, "capabilities");
    size_t i;
    int asym = 0;

    ck_assert_str_eq(jstr(sc, "token_endpoint"), "https://h.example/api/v2/Token/auth");
    ck_assert_str_eq(jstr(sc, "grant_types_supported.0"), "client_credentials");
    ck_assert_str_eq(jstr(sc, "token_endpoint_auth_methods_supported.0"),
                     "private_key_jwt");
    ck_assert_str_eq(jstr(sc, "token_endpoint_auth_signing_alg_values_supported.0"),
                     "RS384");
    ck_assert_str_eq(jstr(sc, "token_endpoint_auth_signing_alg_values_supported.1"),
                     "ES384");
    ck_assert_str_eq(jstr(sc, "code_challenge_methods_supported.0"), "S256");
    for (i = 0; i < json_array_size(caps); i++)
        asym |= !strcmp(json_string_value(json_array_get(caps, i)),
                        "client-confidential-asymmetric");
    ck_assert(asym);
    ck_assert_ptr_null(json_object_get(sc, "issuer"));
    json_decref(sc);
}
END_TEST

/* ---- request headers ---------------------------------------------------- */

START_TEST(header_lists_ignore_case_spaces_and_parameters)
{
    ck_assert(dpc_header_has(pool, "respond-async", "respond-async"));
    ck_assert(dpc_header_has(pool, " Respond-Async ; wait=10, handling=lenient",
                             "respond-async"));
    ck_assert(dpc_header_has(pool, "respond-async,handling=lenient", "handling=lenient"));
    ck_assert(!dpc_header_has(pool, "respond-asyncx", "respond-async"));
    ck_assert(!dpc_header_has(pool, "handling=strict", "handling=lenient"));
    ck_assert(!dpc_header_has(pool, "", "respond-async"));
    ck_assert(!dpc_header_has(pool, NULL, "respond-async"));
}
END_TEST

START_TEST(accept_encoding_follows_rfc9110)
{
    static const struct { const char *value; int gzip; } cases[] = {
        { "gzip", 1 }, { "GZIP", 1 }, { "x-gzip", 1 }, { "deflate, gzip", 1 },
        { "gzip;q=0.5", 1 }, { "gzip; q=1.000", 1 }, { "gzip ;q=0.001", 1 },
        { "*", 1 }, { "br;q=1, *;q=0.1", 1 },
        { "gzip;q=0", 0 }, { "gzip;q=0.000", 0 }, { "gzip;q=0, *", 0 },
        { "*, gzip;q=0", 0 }, { "*;q=0", 0 }, { "identity", 0 }, { "br, deflate", 0 },
        { "gzipx", 0 }, { "", 0 }, { "gzip;q=2", 0 }, { "gzip;q=abc", 0 },
        { "gzip;q=-1", 0 },
    };
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        ck_assert_msg(dpc_header_accepts_coding(pool, cases[i].value, "gzip") == cases[i].gzip,
                      "Accept-Encoding: %s", cases[i].value);
    ck_assert(!dpc_header_accepts_coding(pool, NULL, "gzip"));
}
END_TEST

Suite *meta_suite(void)
{
    Suite *s = suite_create("meta");
    TCase *tc = tcase_create("discovery");

    tcase_add_test(tc, capability_statement_r4_and_stu3);
    tcase_add_test(tc, smart_configuration_has_what_the_spec_requires);
    tcase_add_test(tc, dialect_descriptors_are_whole);
    tcase_add_test(tc, token_url_below_or_beside_the_base);
    suite_add_tcase(s, tc);
    tc = tcase_create("headers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, header_lists_ignore_case_spaces_and_parameters);
    tcase_add_test(tc, accept_encoding_follows_rfc9110);
    suite_add_tcase(s, tc);
    return s;
}

/* ---- token endpoint rules ------------------------------------------------ */

START_TEST(forms_decode_and_refuse_repeats)
{
    apr_table_t *t;
    const char *err;
    const char *body = "grant_type=client_credentials&scope=system%2F*.*&x=a+b&empty=";

    ck_assert_int_eq(dpc_form_parse(pool, body, strlen(body), &t, &err), 0);
    ck_assert_str_eq(apr_table_get(t, "scope"), "system/*.*");
    ck_assert_str_eq(apr_table_get(t, "x"), "a b");
    ck_assert_str_eq(apr_table_get(t, "empty"), "");
    ck_assert_int_eq(dpc_form_parse(pool, "a=1&a=2", 7, &t, &err), -1);
    ck_assert_ptr_nonnull(strstr(err, "more than once"));
    ck_assert_int_eq(dpc_form_parse(pool, "a=%zz", 5, &t, &err), -1);
    ck_assert_int_eq(dpc_form_parse(pool, "a=%00", 5, &t, &err), -1);
    ck_assert_int_eq(dpc_form_parse(pool, "a=1\0b", 5, &t, &err), -1);
}
END_TEST

/* The assertion of a token request sent in the URL is kept out of logs */
START_TEST(forms_redact_a_value)
{
    const char *q = "grant_type=client_credentials&client_assertion=eyJ.a.b&scope=x";

    ck_assert_str_eq(dpc_form_redact(pool, q, "client_assertion"),
                     "grant_type=client_credentials&client_assertion=xxxxxxx&scope=x");
    ck_assert_str_eq(dpc_form_redact(pool, "client_assertion=abc", "client_assertion"),
                     "client_assertion=xxx");
    /* another name that starts the same is not it */
    ck_assert_str_eq(dpc_form_redact(pool, "client_assertion_type=u", "client_assertion"),
                     "client_assertion_type=u");
    ck_assert_str_eq(dpc_form_redact(pool, "a=1", "client_assertion"), "a=1");
    ck_assert_str_eq(dpc_form_redact(pool, "client_assertion=", "client_assertion"),
                     "client_assertion=");
    ck_assert_ptr_null(dpc_form_redact(pool, NULL, "client_assertion"));
}
END_TEST

/* Every shape a form can take, each one parsed or refused, never a crash
 * (a bare name used to be decoded into a string literal). */
START_TEST(forms_of_every_shape)
{
    static const struct { const char *body; int ok; const char *name, *value; int n; } c[] = {
        { "grant_type",            0, "grant_type", "", 1 },   /* bare name */
        { "grant_type&scope",      0, "scope", "", 2 },
        { "a=1&&b=2",              0, "b", "2", 2 },            /* && */
        { "a=1&",                  0, "a", "1", 1 },            /* trailing & */
        { "&a=1",                  0, "a", "1", 1 },
        { "&",                     0, NULL, NULL, 0 },
        { "&&&",                   0, NULL, NULL, 0 },
        { "",                      0, NULL, NULL, 0 },
        { "a==",                   0, "a", "=", 1 },
        { "a=b=c",                 0, "a", "b=c", 1 },
        { "%61=%62",               0, "a", "b", 1 },
        { "a+b=c+d",               0, "a b", "c d", 1 },
        { "=",                     -1, NULL, NULL, 0 },         /* empty name */
        { "=x",                    -1, NULL, NULL, 0 },
        { "a=1&=2",                -1, NULL, NULL, 0 },
        { "%",                     -1, NULL, NULL, 0 },         /* bad escapes */
        { "a=%",                   -1, NULL, NULL, 0 },
        { "a=%4",                  -1, NULL, NULL, 0 },
        { "a=%g1",                 -1, NULL, NULL, 0 },
        { "%zz",                   -1, NULL, NULL, 0 },
        { "a%=1",                  -1, NULL, NULL, 0 },
        { "a=%00",                 -1, NULL, NULL, 0 },
        { "%00=1",                 -1, NULL, NULL, 0 },
        { "a&a",                   -1, NULL, NULL, 0 },         /* repeated bare name */
        { "a=1&a",                 -1, NULL, NULL, 0 },
    };
    size_t i;

    for (i = 0; i < sizeof c / sizeof *c; i++) {
        apr_table_t *t = NULL;
        const char *err = NULL;
        int rc = dpc_form_parse(pool, c[i].body, strlen(c[i].body), &t, &err);

        ck_assert_msg(rc == c[i].ok, "'%s': %d", c[i].body, rc);
        if (rc) {
            ck_assert_msg(err && *err, "'%s': no reason", c[i].body);
            continue;
        }
        ck_assert_msg(apr_table_elts(t)->nelts == c[i].n, "'%s': %d pairs", c[i].body,
                      apr_table_elts(t)->nelts);
        if (c[i].name)
            ck_assert_msg(apr_table_get(t, c[i].name)
                          && !strcmp(apr_table_get(t, c[i].name), c[i].value),
                          "'%s': %s", c[i].body, c[i].name);
    }
}
END_TEST

START_TEST(scopes_grant_reads_and_dpc_scope_only)
{
    static const char *good[] = {
        "system/*.*", "system/*.read", "system/*.rs", "system/Patient.read",
        "system/ExplanationOfBenefit.r", "system/Coverage.s", "system/Group.rs",
    };
    static const char *bad[] = {
        "", " ", "system/*.write", "system/Patient.write", "system/*.cud", "system/*.cruds",
        "system/*.sr", "user/*.read", "patient/*.read", "system/Foo.read", "system/*",
        "system/*.*x", "launch",
    };
    const char *g, *err;
    size_t i;

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ck_assert_msg(dpc_scope_check(pool, good[i], &g, &err) == 0, "refused %s", good[i]);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(dpc_scope_check(pool, bad[i], &g, &err) == -1, "granted '%s'", bad[i]);
    ck_assert_int_eq(dpc_scope_check(pool, "system/Patient.read  system/Patient.read "
                                     "system/Coverage.rs", &g, &err), 0);
    ck_assert_str_eq(g, "system/Patient.read system/Coverage.rs");
    ck_assert(dpc_scope_can_write("system/*.*"));
    ck_assert(dpc_scope_can_write("system/Patient.read system/*.*"));
    ck_assert(!dpc_scope_can_write("system/*.read"));
    ck_assert(!dpc_scope_can_write("system/*.*x"));
}
END_TEST

START_TEST(labels_are_short_visible_utf8)
{
    ck_assert(dpc_label_valid("key 1", 25));
    ck_assert(dpc_label_valid("cl\xc3\xa9 \xe2\x82\xac", 25));   /* é € */
    ck_assert(dpc_label_valid("1234567890123456789012345", 25));
    ck_assert(!dpc_label_valid("12345678901234567890123456", 25));
    ck_assert(!dpc_label_valid("", 25));
    ck_assert(!dpc_label_valid("   ", 25));
    ck_assert(!dpc_label_valid("ab\xff" "cd", 25));
    ck_assert(!dpc_label_valid("ab\xc0\xaf" "cd", 25));         /* overlong '/' */
    ck_assert(!dpc_label_valid("\xed\xa0\x80", 25));         /* surrogate */
    ck_assert(!dpc_label_valid("a\tb", 25));
    ck_assert(!dpc_label_valid(NULL, 25));
}
END_TEST

START_TEST(revocations_are_replaced_whole)
{
    dpc_revocations *rv = dpc_revocations_create(pool);
    apr_array_header_t *ids = apr_array_make(pool, 2, sizeof(const char *));
    apr_time_t t0 = apr_time_from_sec(1000);

    ck_assert(dpc_revocations_stale(rv, t0, apr_time_from_sec(1)));
    APR_ARRAY_PUSH(ids, const char *) = "a";
    APR_ARRAY_PUSH(ids, const char *) = "b";
    dpc_revocations_set(rv, t0, ids);
    ck_assert(!dpc_revocations_stale(rv, t0 + apr_time_from_msec(500), apr_time_from_sec(1)));
    ck_assert(dpc_revocations_stale(rv, t0 + apr_time_from_sec(1), apr_time_from_sec(1)));
    ck_assert(dpc_revocations_has(rv, "a"));
    ck_assert(dpc_revocations_has(rv, "b"));
    ck_assert(!dpc_revocations_has(rv, "c"));
    ck_assert(!dpc_revocations_has(rv, NULL));
    /* a refresh holds what the database says now: "a" aged out, "c" came */
    apr_array_clear(ids);
    APR_ARRAY_PUSH(ids, const char *) = "c";
    dpc_revocations_set(rv, t0 + apr_time_from_sec(2), ids);
    ck_assert(!dpc_revocations_has(rv, "a"));
    ck_assert(dpc_revocations_has(rv, "c"));
    dpc_revocations_set(rv, t0 + apr_time_from_sec(3), NULL);
    ck_assert(!dpc_revocations_has(rv, "c"));
}
END_TEST

Suite *auth_rules_suite(void)
{
    Suite *s = suite_create("auth-rules");
    TCase *tc = tcase_create("rules");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, forms_decode_and_refuse_repeats);
    tcase_add_test(tc, forms_of_every_shape);
    tcase_add_test(tc, forms_redact_a_value);
    tcase_add_test(tc, scopes_grant_reads_and_dpc_scope_only);
    tcase_add_test(tc, labels_are_short_visible_utf8);
    tcase_add_test(tc, revocations_are_replaced_whole);
    suite_add_tcase(s, tc);
    return s;
}
