#include "control/daemon/options.hpp"

#include <rte_pci.h>

#include <boost/program_options.hpp>

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>

#include "control/daemon/log.hpp"
#include "control/secagree/algorithm_policy.hpp"
#include "dataplane/esp/replay_window.hpp"

namespace pcscf::ctl {

namespace po = boost::program_options;

namespace {

Expected<LocalAddress> parse_cidr(const std::string& s) {
    const size_t slash = s.find('/');
    LocalAddress a;
    a.text = s;
    auto addr = net::IpAddr::parse(s.substr(0, slash));
    if (!addr) return fail(Errc::invalid, "--local-addr: " + addr.error());
    a.addr = *addr;
    const unsigned max = a.addr.is_v4() ? 32 : 128;
    a.prefix = max;
    if (slash != std::string::npos) {
        const std::string p = s.substr(slash + 1);
        const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), a.prefix);
        if (ec != std::errc() || end != p.data() + p.size() || a.prefix > max)
            return fail(Errc::invalid, "--local-addr " + s + ": prefix must be 0.." + std::to_string(max));
    } else {
        a.text += "/" + std::to_string(max);
    }
    return a;
}

Expected<dp::PortRange> parse_range(const std::string& s) {
    dp::PortRange r;
    const size_t dash = s.find('-');
    auto num = [](std::string_view v, uint16_t& out) {
        const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
        return ec == std::errc() && end == v.data() + v.size() && !v.empty();
    };
    if (dash == std::string::npos || !num(std::string_view(s).substr(0, dash), r.first) ||
        !num(std::string_view(s).substr(dash + 1), r.last) || r.first == 0 || r.first > r.last)
        return fail(Errc::invalid, "--protected-ports: '" + s + "' is not a range like 5100-5199");
    if (r.contains(5060) || r.contains(5061))
        return fail(Errc::invalid, "--protected-ports must not include 5060 or 5061 (TS 33.203 7.1)");
    return r;
}

Expected<proxy::Endpoint> parse_endpoint(const std::string& s, uint16_t default_port, const std::string& what) {
    // "10.0.0.1", "10.0.0.1:5060", "2001:db8::1", "[2001:db8::1]:5060"
    std::string host = s;
    std::optional<std::string> port;
    if (s.starts_with('[')) {
        const size_t close = s.find(']');
        if (close == std::string::npos) return fail(Errc::invalid, what + ": missing ']' in " + s);
        host = s.substr(1, close - 1);
        if (close + 1 < s.size()) {
            if (s[close + 1] != ':') return fail(Errc::invalid, what + ": expected ':port' after ']' in " + s);
            port = s.substr(close + 2);
        }
    } else if (std::count(s.begin(), s.end(), ':') == 1) {
        host = s.substr(0, s.find(':'));
        port = s.substr(s.find(':') + 1);
    }
    auto a = net::IpAddr::parse(host);
    if (!a) return fail(Errc::invalid, what + ": " + a.error());
    proxy::Endpoint e{*a, default_port};
    if (port) {
        const auto [end, ec] = std::from_chars(port->data(), port->data() + port->size(), e.port);
        if (ec != std::errc() || end != port->data() + port->size() || e.port == 0)
            return fail(Errc::invalid, what + ": bad port in " + s);
    }
    return e;
}

Expected<std::vector<uint16_t>> parse_ports(const std::string& s) {
    std::vector<uint16_t> out;
    std::istringstream in(s);
    for (std::string w; std::getline(in, w, ',');) {
        uint16_t p = 0;
        const auto [end, ec] = std::from_chars(w.data(), w.data() + w.size(), p);
        if (ec != std::errc() || end != w.data() + w.size() || p == 0)
            return fail(Errc::invalid, "--port-pc: '" + w + "' is not a port");
        out.push_back(p);
    }
    if (out.empty()) return fail(Errc::invalid, "--port-pc needs at least one port");
    return out;
}

// An option's value as text, whatever type Boost holds it in.
std::string option_text(const boost::any& v) {
    if (const auto* s = boost::any_cast<std::string>(&v)) return *s;
    if (const auto* b = boost::any_cast<bool>(&v)) return *b ? "true" : "false";
    if (const auto* u = boost::any_cast<unsigned>(&v)) return std::to_string(*u);
    if (const auto* u = boost::any_cast<unsigned long>(&v)) return std::to_string(*u);
    if (const auto* u = boost::any_cast<uint16_t>(&v)) return std::to_string(*u);
    if (const auto* u = boost::any_cast<uint8_t>(&v)) return std::to_string(*u);
    if (const auto* l = boost::any_cast<std::vector<std::string>>(&v)) {
        std::string out;
        for (const auto& x : *l) out += (out.empty() ? "" : " ") + x;
        return out;
    }
    return "?";
}

// The CPUs of a plain lcore list ("0-1", "0,2,4-5"); nullopt for EAL's other forms
// ("(0-1)@0", "1@2"), which EAL checks itself.
std::optional<std::vector<unsigned>> lcore_cpus(const std::string& s) {
    std::vector<unsigned> out;
    std::istringstream in(s);
    for (std::string w; std::getline(in, w, ',');) {
        const size_t dash = w.find('-');
        unsigned a = 0, b = 0;
        auto num = [](std::string_view v, unsigned& x) {
            const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
            return !v.empty() && ec == std::errc() && end == v.data() + v.size() && x < CPU_SETSIZE;
        };
        if (!num(std::string_view(w).substr(0, dash), a)) return std::nullopt;
        b = a;
        if (dash != std::string::npos && (!num(std::string_view(w).substr(dash + 1), b) || b < a)) return std::nullopt;
        for (unsigned c = a; c <= b; ++c) out.push_back(c);
    }
    return out;
}

std::string cpu_list(const cpu_set_t& set) {
    std::string out;
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) out += (out.empty() ? "" : ",") + std::to_string(c);
    return out.empty() ? "none" : out;
}

// --lcores before EAL sees it: EAL's own complaints come after a page of its usage text.
Expected<void> check_lcores(const std::string& lcores, unsigned workers, const cpu_set_t* may_use) {
    const auto cpus = lcore_cpus(lcores);
    if (!cpus) return {};
    if (cpus->size() < 2)
        return fail(Errc::invalid, "--lcores " + lcores +
                                       ": needs at least two lcores, the first for the control thread and one "
                                       "per worker");
    if (workers > cpus->size() - 1)
        return fail(Errc::invalid, "--workers " + std::to_string(workers) + " needs " + std::to_string(workers + 1) +
                                       " lcores, --lcores " + lcores + " gives " + std::to_string(cpus->size()));
    cpu_set_t allowed;
    if (may_use != nullptr) allowed = *may_use;
    else if (::sched_getaffinity(0, sizeof allowed, &allowed) != 0) return {};
    for (unsigned c : *cpus)
        if (!CPU_ISSET(c, &allowed))
            return fail(Errc::invalid, "--lcores " + lcores + ": CPU " + std::to_string(c) +
                                           " is not one this process may run on (allowed: " + cpu_list(allowed) + ")");
    return {};
}

// Boost reads "-1" into an unsigned option as 4294967295: refuse a sign on every
// unsigned option instead.
Expected<void> check_unsigned(const po::parsed_options& parsed, const po::options_description& all) {
    for (const auto& opt : parsed.options) {
        const auto* d = all.find_nothrow(opt.string_key, false);
        const auto* typed = d ? dynamic_cast<const po::typed_value_base*>(d->semantic().get()) : nullptr;
        if (typed == nullptr) continue;
        const auto& t = typed->value_type();
        if (t != typeid(unsigned) && t != typeid(unsigned long) && t != typeid(uint16_t) && t != typeid(uint8_t))
            continue;
        for (const auto& v : opt.value)
            if (const size_t at = v.find_first_not_of(" \t"); at != std::string::npos && (v[at] == '-' || v[at] == '+'))
                return fail(Errc::invalid, "--" + opt.string_key + ": '" + v + "' is not a whole number >= 0");
    }
    return {};
}

// Where the config file sets each option: its line, for the errors about it.
std::map<std::string, unsigned> config_lines(const std::string& text) {
    std::map<std::string, unsigned> at;
    std::istringstream in(text);
    unsigned n = 0;
    for (std::string line; std::getline(in, line);) {
        ++n;
        const size_t eq = line.find('=');
        const size_t b = line.find_first_not_of(" \t");
        if (eq == std::string::npos || b == std::string::npos || line[b] == '#') continue;
        const size_t e = line.find_last_not_of(" \t", eq - 1);
        if (e != std::string::npos && e >= b) at[line.substr(b, e - b + 1)] = n;
    }
    return at;
}

// The line of a config file Boost refused ("... invalid line 'x'"): found by its text.
unsigned line_of(const std::string& text, const std::string& what) {
    const size_t q = what.find('\''), r = what.rfind('\'');
    if (q == std::string::npos || r <= q + 1) return 0;
    const std::string needle = what.substr(q + 1, r - q - 1);
    std::istringstream in(text);
    unsigned n = 0;
    for (std::string line; std::getline(in, line);) {
        ++n;
        if (line.find(needle) != std::string::npos) return n;
    }
    return 0;
}

}  // namespace

Expected<Invocation> parse_options(int argc, const char* const* argv, const cpu_set_t* cpus) {
    DaemonOptions o;
    dp::ServiceConfig& s = o.service;
    esp::EngineConfig& e = s.engine;
    std::string config_file, protected_ports = "5100-5199";
    std::vector<std::string> local;
    std::string metrics_listen;
    po::options_description general("General");
    general.add_options()("help,h", "show this help and exit")("version", "show the version and exit")(
        "config,c", po::value(&config_file), "read options from this file (name = value per line)")(
        "log-level", po::value(&o.log_level)->default_value(o.log_level),
        "debug, info, warn or error; per area after it, e.g. info,sip=debug (areas: daemon, sip, sa, registration, "
        "state, eal)")("log-target", po::value(&o.log_target)->default_value(o.log_target),
                       "stderr (each line with the date and time, UTC) or syslog (journald takes either)")(
        "telemetry-group", po::value(&o.telemetry_group),
        "let this group use the telemetry socket (pcscf-espctl) as well as the daemon's user")(
        "metrics-listen", po::value(&metrics_listen),
        "serve Prometheus metrics over HTTP at this address and port, e.g. 127.0.0.1:9464 (GET /metrics)");
    po::options_description ports("Ports and addresses");
    ports.add_options()("access-port", po::value(&s.access_port)->required(),
                        "DPDK port facing the UEs: a PCI address given to DPDK, or a vdev name (see --vdev)")(
        "vdev", po::value(&o.vdevs)->composing(),
        "create a virtual DPDK device, e.g. net_af_packet0,iface=eth1,framesz=4096 (repeatable)")(
        "local-addr", po::value(&local)->composing()->required(),
        "the P-CSCF's access address with prefix, e.g. 10.0.0.1/24 (repeatable; IPv4 and IPv6)")(
        "tap-name", po::value(&s.tap_name)->default_value(s.tap_name), "kernel interface of the exception path")(
        "tap-setup", po::value(&o.tap_setup)->default_value(o.tap_setup),
        "bring the tap up and give it the local addresses (false: the operator does)")(
        "protected-ports", po::value(&protected_ports)->default_value(protected_ports),
        "range of the P-CSCF's protected ports (port_ps, port_pc)")(
        "access-mtu", po::value(&s.access_mtu)->default_value(s.access_mtu),
        "IP MTU of the access link; larger ESP packets are fragmented")(
        "access-vlan", po::value(&s.access_vlan)->default_value(s.access_vlan),
        "802.1Q VLAN ID of the access link, 1..4094 (0: untagged); frames with another tag or none are dropped")(
        "tap-mtu", po::value(&s.tap_mtu)->default_value(s.tap_mtu),
        "MTU of the tap; leave room for ESP's overhead below --access-mtu");
    po::options_description cpu("Cores and memory");
    cpu.add_options()("lcores,l", po::value(&o.lcores)->default_value(o.lcores),
                      "EAL lcore list: the first runs the control thread, each other one a worker")(
        "workers", po::value(&s.workers)->default_value(0), "worker count (0: one per worker lcore)")(
        "file-prefix", po::value(&o.file_prefix)->default_value(o.file_prefix),
        "EAL file prefix; also names the telemetry socket pcscf-espctl talks to")(
        "no-huge", po::bool_switch(&o.no_huge), "run without hugepages (testing only)")(
        "memory", po::value(&o.memory_mb)->default_value(o.memory_mb), "MiB of memory with --no-huge")(
        "eal-args", po::value(&o.eal_extra), "further EAL arguments, space separated")(
        "burst", po::value(&s.burst)->default_value(s.burst), "packets per receive burst (1..64)")(
        "rx-ring", po::value(&s.rx_ring)->default_value(s.rx_ring), "RX descriptors per queue")(
        "tx-ring", po::value(&s.tx_ring)->default_value(s.tx_ring), "TX descriptors per queue")(
        "mbufs", po::value(&s.mbufs)->default_value(s.mbufs), "packet buffers per worker");
    po::options_description sa("Security associations");
    sa.add_options()("replay-window", po::value(&e.replay_window)->default_value(e.replay_window),
                     "anti-replay window in packets (64..65536)")(
        "inbound-sas", po::value(&e.spi.slots_per_worker)->default_value(e.spi.slots_per_worker),
        "inbound SAs per worker (the SPI range is workers x this, from --spi-base)")(
        "outbound-sas", po::value(&e.outbound_capacity)->default_value(e.outbound_capacity), "outbound SAs per worker")(
        "cipher-sas", po::value(&e.cipher_capacity)->default_value(e.cipher_capacity),
        "SAs with a key block (aes-cbc, des-ede3-cbc, aes-gcm, aes-gmac, hmac-sha-256-128) per worker, both "
        "directions: 1,088 bytes of keys each")(
        "look-ahead-sas", po::value(&e.look_ahead_from)->default_value(e.look_ahead_from),
        "from this many inbound SAs per worker, each burst waits one poll so that its SA records are fetched during "
        "the crypto of the one before (0: always; the default: the SAs whose 128-byte records fill this CPU's L2)")(
        "early-key-sas", po::value(&e.early_keys_from)->default_value(e.early_keys_from),
        "from this many SAs in a direction, a burst's key blocks are requested before its checks (0: always)")(
        "spi-base", po::value(&e.spi.base)->default_value(e.spi.base), "first inbound SPI the P-CSCF allocates")(
        "seq-warn", po::value(&e.seq_near_end)->default_value(e.seq_near_end),
        "report an outbound SA when its sequence number passes this")(
        "reassembly-flows", po::value(&s.reassembly_flows)->default_value(s.reassembly_flows),
        "datagrams being reassembled at once, per worker, direction and protocol (ESP, UDP, TCP)")(
        "reassembly-timeout-ms", po::value(&s.reassembly_timeout_ms)->default_value(s.reassembly_timeout_ms),
        "how long fragments wait for the rest")(
        "record-interval-us", po::value(&s.record_interval_us)->default_value(s.record_interval_us),
        "once a worker's SA record ring is empty, how long it waits before looking again "
        "(0..10000 us; 0: every poll)")("max-datagram", po::value(&s.max_datagram)->default_value(s.max_datagram),
                                        "largest datagram reassembled, in bytes");
    std::string redis_url;
    std::string core, core_local, port_pc = "5102,5103,5104", algs = "hmac-sha-1-96,hmac-md5-96";
    std::string allowed_algs(secagree::kDefaultAllowedAlgorithms),
        preferred_algs(secagree::kDefaultPreferredAlgorithms);
    secagree::AlgorithmOptions alg_options;  // which of the three were given
    unsigned port_ps = 5101, sip_port = 5060, await_auth = 240;
    unsigned overload_queue_ms = 100, retry_after = 10, core_timeout_ms = 16'000;
    size_t max_transactions = 1'000'000, max_tcp = 4096;
    bool reg_event = false, nat_traversal = true;
    po::options_description state("State that survives a restart (docs/operations.md)");
    state.add_options()("state-dir", po::value(&o.state_dir),
                        "keep SAs and registrations in an LMDB store in this directory (0700; files 0600)")(
        "seq-checkpoint", po::value(&o.seq_checkpoint)->default_value(o.seq_checkpoint),
        "with a store: each SA's sequence number is checkpointed every this many packets (a power of 2)")(
        "state-redis", po::value(&redis_url),
        "keep them in Redis instead, redis://[[user]:password@]host[:port][/db][?prefix=name]: the store a "
        "standby follows")("standby", po::bool_switch(&o.standby),
                           "with --state-redis: follow the store, SAs installed but passing no ESP, until told to "
                           "take over (pcscf-espctl role primary, from keepalived's notify)")(
        "state-reset", po::bool_switch(&o.state_reset), "discard what the store holds and start empty");
    po::options_description sip("SIP sec-agree (TS 33.203 clause 7); off without --core");
    sip.add_options()(
        "core", po::value(&core),
        "the IMS core's SIP address, e.g. 10.1.0.2:5060 (;transport=tcp: over TCP): enables the sec-agree proxy")(
        "core-local", po::value(&core_local),
        "the P-CSCF's own address towards the core, with port (default 5060); named in Via and Path")(
        "sip-port", po::value(&sip_port)->default_value(sip_port), "unprotected SIP port on the local addresses")(
        "port-ps", po::value(&port_ps)->default_value(port_ps), "protected server port (inside --protected-ports)")(
        "port-pc", po::value(&port_pc)->default_value(port_pc),
        "protected client ports, comma separated, rotated per registration (inside --protected-ports)")(
        "allowed-algorithms", po::value(&allowed_algs)->default_value(allowed_algs),
        "the TS 33.203 Annex H algorithms a UE may negotiate, comma separated, integrity (hmac-sha-1-96, "
        "hmac-md5-96, aes-gmac, and hmac-sha-256-128, which Annex H lacks and only this option allows) and "
        "encryption (aes-gcm, aes-cbc, des-ede3-cbc, and null for integrity only) "
        "alike. The pairs: an HMAC with null, aes-cbc or des-ede3-cbc; aes-gmac with null; aes-gcm alone "
        "(alg=null); each name must form one. The P-CSCF takes the best allowed pair the UE offers; the UE that "
        "offers none gets a 494")(
        "preferred-algorithms", po::value(&preferred_algs)->default_value(preferred_algs),
        "the allowed algorithms in order of preference, comma separated (allowed ones left out follow, in "
        "--allowed-algorithms' order; one not allowed is an error). Pairs rank by their ealg's place first, "
        "then by their alg's; Security-Server lists every allowed pair in that order, q from 1 down")(
        "alg-priority", po::value(&algs)->default_value(algs, "unset"),
        "older form: the integrity algorithms alone, in order of preference, the others not allowed; when set, "
        "--allowed-algorithms and --preferred-algorithms may name only encryption algorithms")(
        "reg-await-auth", po::value(&await_auth)->default_value(await_auth),
        "seconds a temporary SA set waits for the second REGISTER")(
        "overload-queue-ms", po::value(&overload_queue_ms)->default_value(overload_queue_ms),
        "overload: a new registration that waited longer than this to be read is answered 503 at once")(
        "max-transactions", po::value(&max_transactions)->default_value(max_transactions),
        "overload: SIP transactions kept at most (new registrations are answered 503 from 3/4 of it)")(
        "retry-after", po::value(&retry_after)->default_value(retry_after),
        "overload: a 503's Retry-After is drawn from this many seconds up to twice as many")(
        "reg-event", po::bool_switch(&reg_event),
        "subscribe to each registered UE's reg event (RFC 3680): a registration the core ends takes the SAs")(
        "nat-traversal", po::value(&nat_traversal)->default_value(true, "on"),
        "on|off: a UE whose REGISTER comes from another address than its Via names is behind a NAT and gets "
        "UDP-enc-tun SAs (TS 33.203 Annex M); off: transport mode only, such a REGISTER is refused")(
        "core-timeout-ms", po::value(&core_timeout_ms)->default_value(core_timeout_ms),
        "a request the core (or, for the core's requests, the UE) has not answered within this gets a 408")(
        "max-tcp-connections", po::value(&max_tcp)->default_value(max_tcp),
        "TCP connections from and to UEs kept at most; a new one beyond is closed at once");
    po::options_description all("pcscf-espd: the P-CSCF's ESP datapath\n\nUsage: pcscf-espd [options]");
    all.add(general).add(ports).add(cpu).add(sa).add(state).add(sip);

    // An option set in the config file (and not on the command line) is named with its
    // line in every error about it.
    std::string file_name, file_text;
    std::map<std::string, unsigned> file_lines;
    std::set<std::string> on_command_line;
    const auto bad = [&](std::string m) {
        for (const auto& [name, line] : file_lines) {
            const std::string flag = "--" + name;
            const bool names = m.starts_with(flag) && (m.size() == flag.size() || m[flag.size()] == ' ' ||
                                                       m[flag.size()] == ':' || m[flag.size()] == ',');
            if (names && !on_command_line.count(name))
                return fail(Errc::invalid, file_name + ", line " + std::to_string(line) + ": " + m);
        }
        return fail(Errc::invalid, std::move(m));
    };
    bool in_file = false;
    try {
        po::variables_map vm;
        const auto cl = po::parse_command_line(argc, argv, all);
        if (auto r = check_unsigned(cl, all); !r) return std::unexpected(r.error());
        for (const auto& opt : cl.options) on_command_line.insert(opt.string_key);
        po::store(cl, vm);
        if (vm.count("help")) {
            std::ostringstream help;
            help << all;
            return ShowHelp{help.str()};
        }
        if (vm.count("version")) return ShowVersion{};
        if (vm.count("config")) {
            file_name = vm["config"].as<std::string>();
            std::ifstream f(file_name);
            if (!f) return bad("cannot read config file " + file_name);
            file_text.assign(std::istreambuf_iterator<char>(f), {});
            file_lines = config_lines(file_text);
            in_file = true;
            std::istringstream text(file_text);
            const auto parsed = po::parse_config_file(text, all);
            if (auto r = check_unsigned(parsed, all); !r) return bad(r.error().message);
            po::store(parsed, vm);
            in_file = false;
        }
        po::notify(vm);
        for (const auto& [name, value] : vm) o.given[name] = option_text(value.value());
        // A default stands for the option not given: the policy's own defaults then apply.
        const auto set = [&](const char* name, const std::string& v) {
            return vm.count(name) && !vm[name].defaulted() ? std::optional(v) : std::nullopt;
        };
        alg_options = {set("allowed-algorithms", allowed_algs), set("preferred-algorithms", preferred_algs),
                       set("alg-priority", algs)};
    } catch (const po::error_with_option_name& err) {
        // Boost names the option in its message ("... for option '--burst' ..."); the
        // config file's line comes from the option, or from the text it quotes.
        const std::string key =
            err.get_option_name().starts_with("--") ? err.get_option_name().substr(2) : err.get_option_name();
        if (in_file && file_lines.count(key))
            return fail(Errc::invalid, file_name + ", line " + std::to_string(file_lines[key]) + ": " + err.what());
        if (in_file)
            if (const unsigned line = line_of(file_text, err.what()); line > 0)
                return fail(Errc::invalid, file_name + ", line " + std::to_string(line) + ": " + err.what());
        return bad(err.what());
    } catch (const po::error& err) {
        return bad(err.what());
    }
    if (auto r = check_lcores(o.lcores, s.workers, cpus); !r) return bad(r.error().message);
    if (const std::string why = set_log_levels(o.log_level, true); !why.empty()) return bad("--log-level " + why);
    LogTarget target;
    if (!parse_log_target(o.log_target, target)) return bad("--log-target must be stderr or syslog");
    if (!metrics_listen.empty()) {
        auto m = parse_endpoint(metrics_listen, 0, "--metrics-listen");
        if (!m) return bad(m.error().message);
        if (m->port == 0) return bad("--metrics-listen needs a port, e.g. 127.0.0.1:9464");
        o.metrics_listen = *m;
    }
    for (const auto& l : local) {
        auto a = parse_cidr(l);
        if (!a) return bad(a.error().message);
        if (std::find(s.local_addrs.begin(), s.local_addrs.end(), a->addr) != s.local_addrs.end())
            return bad("--local-addr " + a->addr.to_string() + " is given twice");
        o.local.push_back(*a);
        s.local_addrs.push_back(a->addr);
    }
    if (s.local_addrs.size() > dp::kMaxLocalAddrs)
        return bad("--local-addr: at most " + std::to_string(dp::kMaxLocalAddrs) + " access addresses");
    auto range = parse_range(protected_ports);
    if (!range) return bad(range.error().message);
    s.protected_ports = *range;
    if (s.burst == 0 || s.burst > dp::kMaxBurst) return bad("--burst must be 1..64");
    if (s.record_interval_us > 10'000) return bad("--record-interval-us must be 0..10000");
    if (!esp::ReplayWindow::valid_size(e.replay_window)) return bad("--replay-window must be 64..65536");
    if (s.access_mtu < 1280 || s.access_mtu > 9000) return bad("--access-mtu must be 1280..9000");
    if (s.tap_mtu < 1280 || s.tap_mtu > s.access_mtu) return bad("--tap-mtu must be 1280..--access-mtu");
    if (s.access_vlan > 4094) return bad("--access-vlan must be 1..4094 (0: untagged)");
    if (e.spi.base < 256) return bad("--spi-base must be at least 256 (1-255 are reserved)");
    if (e.spi.slots_per_worker == 0 || e.outbound_capacity < 8)
        return bad("--inbound-sas and --outbound-sas must be positive (>= 8)");
    if (s.max_datagram < 1500 || s.max_datagram > 65535) return bad("--max-datagram must be 1500..65535");
    if (o.seq_checkpoint == 0 || o.seq_checkpoint > 65536 || (o.seq_checkpoint & (o.seq_checkpoint - 1)) != 0)
        return bad("--seq-checkpoint must be a power of 2, 1..65536");
    if (!redis_url.empty()) {
        auto u = state::parse_redis_url(redis_url);
        if (!u) return bad("--state-redis: " + u.error().message);
        o.redis = *u;
    }
    if (o.redis && !o.state_dir.empty()) return bad("--state-dir and --state-redis are two stores: choose one");
    if (o.standby && !o.redis) return bad("--standby needs --state-redis, the store it follows");
    if (o.standby && o.state_reset) return bad("--state-reset cannot go with --standby: a standby never writes");
    if (o.state_reset && !o.has_store()) return bad("--state-reset needs --state-dir or --state-redis");
    if (o.has_store()) e.seq_checkpoint = o.seq_checkpoint;
    if (!core.empty()) {
        SipConfig so;
        // RFC 3261 19.1.1's transport parameter, as in a SIP URI: UDP unless it says TCP.
        for (const auto& [suffix, tcp] : {std::pair{";transport=tcp", true}, std::pair{";transport=udp", false}})
            if (core.ends_with(suffix)) {
                so.proxy.core_tcp = tcp;
                core.resize(core.size() - std::string_view(suffix).size());
            }
        if (core.find(';') != std::string::npos) return bad("--core: only ;transport=tcp or ;transport=udp may follow");
        auto c = parse_endpoint(core, 5060, "--core");
        if (!c) return bad(c.error().message);
        if (core_local.empty()) return bad("--core needs --core-local, the P-CSCF's address towards the core");
        auto cl = parse_endpoint(core_local, 5060, "--core-local");
        if (!cl) return bad(cl.error().message);
        if (cl->addr.is_v4() != c->addr.is_v4()) return bad("--core and --core-local must be the same IP version");
        auto pcs = parse_ports(port_pc);
        if (!pcs) return bad(pcs.error().message);
        auto policy = secagree::parse_algorithm_policy(alg_options);
        if (!policy) return bad(policy.error().message);
        if (sip_port == 0 || sip_port > 65535 || s.protected_ports.contains(uint16_t(sip_port)))
            return bad("--sip-port must be a port outside --protected-ports");
        if (port_ps > 65535 || !s.protected_ports.contains(uint16_t(port_ps)))
            return bad("--port-ps must be inside --protected-ports (the datapath guards those)");
        for (uint16_t p : *pcs)
            if (!s.protected_ports.contains(p) || p == port_ps)
                return bad("--port-pc " + std::to_string(p) + " must be inside --protected-ports and not --port-ps");
        if (await_auth == 0) return bad("--reg-await-auth must be positive");
        if (overload_queue_ms == 0 || overload_queue_ms > 60'000) return bad("--overload-queue-ms must be 1..60000");
        if (max_transactions < 1000) return bad("--max-transactions must be at least 1000");
        if (retry_after == 0 || retry_after > 3600) return bad("--retry-after must be 1..3600");
        if (max_tcp == 0 || max_tcp > 1'000'000) return bad("--max-tcp-connections must be 1..1000000");
        if (core_timeout_ms < 1000 || core_timeout_ms > 31'000)
            return bad("--core-timeout-ms must be 1000..31000 (below a transaction's 32 s)");
        so.proxy.core = *c;
        so.proxy.core_local = *cl;
        so.proxy.sip_port = uint16_t(sip_port);
        so.proxy.access = s.local_addrs;
        so.proxy.overload_queue = std::chrono::milliseconds(overload_queue_ms);
        so.proxy.max_transactions = max_transactions;
        so.proxy.retry_after = std::chrono::seconds(retry_after);
        so.proxy.max_connections = max_tcp;
        so.proxy.core_timeout = std::chrono::milliseconds(core_timeout_ms);
        so.proxy.reg_event = reg_event;
        so.registrar.port_ps = uint16_t(port_ps);
        so.registrar.port_pc = *pcs;
        so.registrar.algorithms = *policy;
        so.registrar.reg_await_auth = std::chrono::seconds(await_auth);
        so.registrar.nat_traversal = nat_traversal;
        o.sip = std::move(so);
    } else if (!core_local.empty()) {
        return bad("--core-local without --core");
    }
    return o;
}

bool changes_live(const std::string& option) {
    static const std::set<std::string> live = {"log-level",          "core",
                                               "overload-queue-ms",  "max-transactions",
                                               "retry-after",        "max-tcp-connections",
                                               "reg-await-auth",     "alg-priority",
                                               "core-timeout-ms",    "reg-event",
                                               "allowed-algorithms", "preferred-algorithms"};
    return live.count(option) > 0;
}

std::vector<std::string> eal_arguments(const DaemonOptions& o, const char* prog) {
    std::vector<std::string> a = {prog, "--lcores", o.lcores, "--file-prefix", o.file_prefix};
    if (o.no_huge) a.insert(a.end(), {"--no-huge", "-m", std::to_string(o.memory_mb)});
    else a.push_back("--in-memory");
    for (const auto& v : o.vdevs) a.push_back("--vdev=" + v);
    std::istringstream extra(o.eal_extra);
    bool own_list = false;
    for (std::string w; extra >> w;) {
        own_list |= w == "-a" || w == "-b" || w.starts_with("--allow") || w.starts_with("--block") || w == "--no-pci";
        a.push_back(w);
    }
    // EAL probes every PCI device it may unless told which: only the access port's, or
    // none when the access port is a virtual device (the host's own NIC stays the host's).
    if (!own_list) {
        rte_pci_addr pci;
        if (rte_pci_addr_parse(o.service.access_port.c_str(), &pci) == 0)
            a.insert(a.end(), {"-a", o.service.access_port});
        else a.push_back("--no-pci");
    }
    return a;
}

}  // namespace pcscf::ctl
