package redisinfo

import (
	"strconv"
	"strings"
)

// The command tables come from COMMAND on redis-server 7.0.15.

// monitorAllCommands are the commands of Redis 7.0, so parsed lines share their
// names instead of allocating one string per line.
const monitorAllCommands = `
	acl append asking auth bgrewriteaof bgsave bitcount bitfield bitfield_ro
	bitop bitpos blmove blmpop blpop brpop brpoplpush bzmpop bzpopmax
	bzpopmin client cluster command config copy dbsize debug decr decrby del
	discard dump echo eval eval_ro evalsha evalsha_ro exec exists expire
	expireat expiretime failover fcall fcall_ro flushall flushdb function
	geoadd geodist geohash geopos georadius georadius_ro georadiusbymember
	georadiusbymember_ro geosearch geosearchstore get getbit getdel getex
	getrange getset hdel hello hexists hget hgetall hincrby hincrbyfloat
	hkeys hlen hmget hmset hrandfield hscan hset hsetnx hstrlen hvals incr
	incrby incrbyfloat info keys lastsave latency lcs lindex linsert llen
	lmove lmpop lolwut lpop lpos lpush lpushx lrange lrem lset ltrim memory
	mget migrate module monitor move mset msetnx multi object persist
	pexpire pexpireat pexpiretime pfadd pfcount pfdebug pfmerge pfselftest
	ping psetex psubscribe psync pttl publish pubsub punsubscribe quit
	randomkey readonly readwrite rename renamenx replconf replicaof reset
	restore restore-asking role rpop rpoplpush rpush rpushx sadd save scan
	scard script sdiff sdiffstore select set setbit setex setnx setrange
	shutdown sinter sintercard sinterstore sismember slaveof slowlog
	smembers smismember smove sort sort_ro spop spublish srandmember srem
	sscan ssubscribe strlen subscribe substr sunion sunionstore sunsubscribe
	swapdb sync time touch ttl type unlink unsubscribe unwatch wait watch
	xack xadd xautoclaim xclaim xdel xgroup xinfo xlen xpending xrange xread
	xreadgroup xrevrange xsetid xtrim zadd zcard zcount zdiff zdiffstore
	zincrby zinter zintercard zinterstore zlexcount zmpop zmscore zpopmax
	zpopmin zrandmember zrange zrangebylex zrangebyscore zrangestore zrank
	zrem zremrangebylex zremrangebyrank zremrangebyscore zrevrange
	zrevrangebylex zrevrangebyscore zrevrank zscan zscore zunion zunionstore`

// monitorFirstKeyCommands take a key as their first argument (COMMAND's first
// key position 1). Shard channels (SPUBLISH…) are not keys.
const monitorFirstKeyCommands = `
	append bitcount bitfield bitfield_ro bitpos blmove blpop brpop
	brpoplpush bzpopmax bzpopmin copy decr decrby del dump exists expire
	expireat expiretime geoadd geodist geohash geopos georadius georadius_ro
	georadiusbymember georadiusbymember_ro geosearch geosearchstore get
	getbit getdel getex getrange getset hdel hexists hget hgetall hincrby
	hincrbyfloat hkeys hlen hmget hmset hrandfield hscan hset hsetnx hstrlen
	hvals incr incrby incrbyfloat lcs lindex linsert llen lmove lpop lpos
	lpush lpushx lrange lrem lset ltrim mget move mset msetnx persist
	pexpire pexpireat pexpiretime pfadd pfcount pfmerge psetex pttl rename
	renamenx restore restore-asking rpop rpoplpush rpush rpushx sadd scard
	sdiff sdiffstore set setbit setex setnx setrange sinter sinterstore
	sismember smembers smismember smove sort sort_ro spop srandmember srem
	sscan strlen substr sunion sunionstore touch ttl type unlink watch xack
	xadd xautoclaim xclaim xdel xlen xpending xrange xrevrange xsetid xtrim
	zadd zcard zcount zdiffstore zincrby zinterstore zlexcount zmscore
	zpopmax zpopmin zrandmember zrange zrangebylex zrangebyscore zrangestore
	zrank zrem zremrangebylex zremrangebyrank zremrangebyscore zrevrange
	zrevrangebylex zrevrangebyscore zrevrank zscan zscore zunionstore`

var (
	monitorKnownCmds    = map[string]string{}
	monitorFirstKeyCmds = map[string]bool{}
)

func init() {
	for _, c := range strings.Fields(monitorAllCommands) {
		monitorKnownCmds[c] = c
	}
	for _, c := range strings.Fields(monitorFirstKeyCommands) {
		monitorFirstKeyCmds[c] = true
	}
}

// monitorKeyIndex is the index in args (the arguments after the command) of the
// command's first key, or -1.
func monitorKeyIndex(cmd string, args [][]byte) int {
	if monitorFirstKeyCmds[cmd] {
		return 0
	}
	switch cmd {
	case "bitop": // BITOP op destkey key…
		return 1
	case "migrate": // MIGRATE host port key|"" db timeout … [KEYS key…]
		if len(args) > 2 && len(args[2]) > 0 {
			return 2
		}
		for i := 5; i < len(args); i++ {
			if strings.EqualFold(string(args[i]), "keys") {
				return i + 1
			}
		}
	case "eval", "eval_ro", "evalsha", "evalsha_ro", "fcall", "fcall_ro": // script numkeys key…
		return monitorNumkeysAt(args, 1)
	case "lmpop", "zmpop", "sintercard", "zdiff", "zinter", "zintercard", "zunion": // numkeys key…
		return monitorNumkeysAt(args, 0)
	case "blmpop", "bzmpop": // timeout numkeys key…
		return monitorNumkeysAt(args, 1)
	case "object", "memory", "xgroup", "xinfo": // OBJECT ENCODING key, MEMORY USAGE key, XINFO STREAM key…
		if len(args) > 1 && !strings.EqualFold(string(args[0]), "help") &&
			!strings.EqualFold(string(args[0]), "stats") && !strings.EqualFold(string(args[0]), "doctor") &&
			!strings.EqualFold(string(args[0]), "malloc-stats") && !strings.EqualFold(string(args[0]), "purge") {
			return 1
		}
	case "xread", "xreadgroup": // … STREAMS key… id…
		for i := range args {
			if strings.EqualFold(string(args[i]), "streams") {
				return i + 1
			}
		}
	}
	return -1
}

// monitorNumkeysAt reads a numkeys argument at i: the first key follows it.
func monitorNumkeysAt(args [][]byte, i int) int {
	if i >= len(args) {
		return -1
	}
	n, err := strconv.Atoi(string(args[i]))
	if err != nil || n <= 0 {
		return -1
	}
	return i + 1
}
