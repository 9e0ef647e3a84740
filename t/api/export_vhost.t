# What a job is exported with travels on its row, written by the kick-off
# from the configuration of the server that took it: a <VirtualHost>'s own
# DPCResourcesPerFile, DPCExportGzip and DPCFileLifetime are what its
# exports use (t/conf/extra.conf.in: dpc_vhost), the main server's what the
# main server's use; and a worker claims no job of a dialect it does not
# know.
use strict;
use warnings FATAL => 'all';
use Apache::Test;
use Apache::TestRequest ();
use Apache::TestUtil;
use File::Temp qw(tempdir);
use DPC::Test qw(req json_of sql wait_for);
use DPC::JWT qw(gen_keys);
use DPC::Export qw(make_roster);
use DPC::Org;

plan tests => 16;

my $dir = tempdir(CLEANUP => 1);
gen_keys($dir, v1 => 'ec');
my $org = DPC::Org->new(name => 'Export per vhost', key_path => "$dir/v1", alg => 'ES384');
my $tok = $org->access_token;
# 6 beneficiaries: more than 4 resources of each type, so files rotate
my @mbis = map { sql("SELECT mbi FROM beneficiary ORDER BY mbi OFFSET $_ LIMIT 1") } 20 .. 25;
my $gid = make_roster($org, $tok, '1003000134', @mbis);

# Kick off an export of the roster on the current server; its job's id, once
# the job is no longer running ('' if it did not start).
sub export_done {
    my $res = req(GET => "/api/v2/Group/$gid/\$export", Authorization => "Bearer $tok",
                  Prefer => 'respond-async');
    my ($job) = ($res->header('Content-Location') // '') =~ m{/Jobs/([0-9a-f-]{36})$};
    return '' unless $job;
    wait_for(60, sub { sql("SELECT status FROM export_job WHERE id = '$job'") ne 'running' });
    return $job;
}

# The job's settings and outcome: "dialect|per file|gzip|lifetime|status|
# largest file|files with a gzip twin|seconds from completed to expires".
sub outcome {
    my ($job) = @_;
    return sql("SELECT j.dialect, j.resources_per_file, j.gzip, j.file_lifetime, j.status,
                       (SELECT max(count) FROM export_file WHERE job_id = j.id),
                       (SELECT count(gz_name) FROM export_file WHERE job_id = j.id),
                       extract(epoch FROM j.expires_at - j.completed_at)::int
                  FROM export_job j WHERE j.id = '$job'");
}

# A job of a dialect this build does not know, older than every other (the
# workers take the oldest first): no worker may claim it.
my $alien = sql(qq{INSERT INTO export_job (org_id, dialect, fhir_version, request_url, types,
    resources_per_file, gzip, file_lifetime, created_at, batches_total)
    VALUES ('$org->{id}', 'no-such-dialect', 4, 'http://x.example/', '{Patient}', 1, false,
            '1 hour', now() - interval '1 day', 1) RETURNING id});
sql("INSERT INTO export_batch (job_id, seq, mbis) VALUES ('$alien', 0, '{$mbis[0]}')");

# The main server: DPCResourcesPerFile 10, DPCExportGzip On, 24h.
my $main = export_done();
ok t_cmp($main ? 1 : 0, 1, 'main server: the export started');
my @m = split /\|/, outcome($main) // '';
ok t_cmp($m[4] // '', 'completed', 'main server: it completed');
ok t_cmp("$m[0]|$m[1]|$m[2]|$m[3]", 'dpc-v2|10|t|24:00:00',
         "main server: the job carries the main server's settings and dialect");
ok t_cmp($m[5] // 0, 10, 'main server: files of up to 10 resources');
ok t_cmp(($m[6] // 0) > 0 ? 1 : 0, 1, 'main server: with gzip twins');
ok t_cmp($m[7] // '', 86400, 'main server: files live 24 hours');

# The virtual host: DPCResourcesPerFile 4, DPCExportGzip Off, 2h.
Apache::TestRequest::module('dpc_vhost');
my $vhost_url = Apache::TestRequest::hostport();
my $vjob = export_done();
Apache::TestRequest::module('default');
ok t_cmp($vhost_url ne Apache::TestRequest::hostport() ? 1 : 0, 1,
         'the virtual host is a server of its own');
ok t_cmp($vjob ? 1 : 0, 1, 'virtual host: the export started');
my @v = split /\|/, outcome($vjob) // '';
ok t_cmp($v[4] // '', 'completed', 'virtual host: it completed');
ok t_cmp("$v[0]|$v[1]|$v[2]|$v[3]", 'dpc-v2|4|f|02:00:00',
         "virtual host: the job carries the virtual host's settings");
ok t_cmp($v[5] // 0, 4, 'virtual host: files of up to 4 resources, its DPCResourcesPerFile');
ok t_cmp($v[6] // -1, 0, 'virtual host: no gzip twin');
ok t_cmp($v[7] // '', 7200, 'virtual host: files live 2 hours');
ok t_cmp(sql("SELECT sum(count) FROM export_file WHERE job_id = '$vjob'"),
         sql("SELECT sum(count) FROM export_file WHERE job_id = '$main'"),
         'and the same resources as the main server exported');
my ($vport) = $vhost_url =~ /:(\d+)$/;
ok t_cmp(sql("SELECT request_url FROM export_job WHERE id = '$vjob'"), qr{^http://[^/]*:$vport/},
         "the job's request URL is the virtual host's");

# Both exports came after the unknown dialect's job, and it is untouched.
ok t_cmp(sql("SELECT status || ' ' || coalesce(worker_id::text, 'nobody')
                FROM export_batch WHERE job_id = '$alien'"), 'pending nobody',
         'a job of a dialect the workers do not know is left for a worker that knows it');
sql("UPDATE export_job SET status = 'cancelled' WHERE id = '$alien'");
