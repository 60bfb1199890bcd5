// Package bench holds the load and quality harnesses behind the
// borderproof bench subcommands: a GraphQL client for a loopback server,
// the quality run (a synthetic population with known truth against the
// decisions), the API run (submitVerification against viewer), the raw
// asynq ceiling the pipeline is compared with, and the statistics they
// print (nearest-rank percentiles, a confusion table, one JSON line).
//
// Every loop is bounded in count and in time and stops by itself, and the
// harnesses refuse any address that is not loopback.
package bench
