# Directives fall back to the Directus deployment's environment variables.
use lib 't/lib';
use Test::Nginx::Socket 'no_plan';  # the count is printed at the end

# nginx reads its environment while it parses the configuration, so each block's `--- env_vars`
# (NAME=value lines) are set by a preprocessor, which runs before nginx starts for the block.
my @names = qw(MAGIC_LINK_SECRET MAGIC_LINK_EXPIRATION_MINUTES REDIS EMAIL_TRANSPORT);
add_block_preprocessor(sub {
    my $block = shift;
    delete @ENV{@names};
    for my $line (split /\n/, $block->env_vars // '') {
        my ($name, $value) = split /=/, $line, 2;
        $ENV{$name} = $value;
    }
});

no_shuffle();
run_tests();

__DATA__

=== TEST 1: the secret may come from MAGIC_LINK_SECRET
--- env_vars
MAGIC_LINK_SECRET=from-the-environment-0123456789abcdef
--- config
location /magic-link-api/ { magic_link api; }
--- request
GET /magic-link-api/
--- error_code: 200



=== TEST 2: a bad MAGIC_LINK_EXPIRATION_MINUTES fails with the variable, directive and value
--- env_vars
MAGIC_LINK_SECRET=from-the-environment-0123456789abcdef
MAGIC_LINK_EXPIRATION_MINUTES=abc
--- config
location /magic-link-api/ { magic_link api; }
--- must_die
--- error_log
invalid value "abc" in MAGIC_LINK_EXPIRATION_MINUTES (the default of "magic_link_expiration_minutes")



=== TEST 3: a bad REDIS URL is refused without echoing it (it may hold a password)
--- env_vars
MAGIC_LINK_SECRET=from-the-environment-0123456789abcdef
REDIS=memcached://cache:11211
--- config
location /magic-link-api/ { magic_link api; }
--- must_die
--- error_log
invalid value (value hidden) in REDIS or REDIS_HOST, REDIS_PORT, REDIS_PASSWORD, REDIS_DB (the default of "magic_link_redis")



=== TEST 4: a directive overrides a bad environment value
--- env_vars
MAGIC_LINK_SECRET=from-the-environment-0123456789abcdef
MAGIC_LINK_EXPIRATION_MINUTES=abc
--- http_config
magic_link_expiration_minutes 10;
--- config
location /magic-link-api/ { magic_link api; }
--- request
GET /magic-link-api/
--- error_code: 200



=== TEST 5: an EMAIL_TRANSPORT the module does not support names the variable and the directive
--- env_vars
MAGIC_LINK_SECRET=from-the-environment-0123456789abcdef
EMAIL_TRANSPORT=ses
--- config
location /magic-link-api/ { magic_link api; }
--- must_die
--- error_log
invalid value "ses" in EMAIL_TRANSPORT (the default of "magic_link_email_transport"): the mail transport "ses" is not supported; use smtp, sendmail or mailgun
