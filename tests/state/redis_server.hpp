#pragma once
// A redis-server of the test's (or benchmark's) own: on a free port of 127.0.0.1, with a password, in a
// temporary directory removed at the end. It can be stopped and started again on the same
// port, with its data kept over that when started with `durable` (appendonly, fsync always).
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "control/state/redis_client.hpp"

namespace pcscf::ctl::state::testing {

class RedisServer {
public:
    static constexpr std::string_view kPassword = "test pw:@/";  // awkward on purpose

    // Whether redis-server is on the PATH.
    static bool installed() {
        const char* path = std::getenv("PATH");
        std::stringstream dirs(path ? path : "");
        for (std::string dir; std::getline(dirs, dir, ':');)
            if (!dir.empty() && ::access((dir + "/redis-server").c_str(), X_OK) == 0) return true;
        return false;
    }

    explicit RedisServer(bool durable = false) : durable_(durable), port_(free_port()) {
        static int n = 0;
        dir_ = std::filesystem::temp_directory_path() /
               ("pcscf_redis_" + std::to_string(::getpid()) + "_" + std::to_string(n++));
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
    }
    ~RedisServer() {
        stop();
        std::filesystem::remove_all(dir_);
    }
    RedisServer(const RedisServer&) = delete;
    RedisServer& operator=(const RedisServer&) = delete;

    // Starts it (on `cpus` when given) and waits until it answers PING; "" when it does,
    // else why not.
    std::string start(const cpu_set_t* cpus = nullptr) {
        if (pid_ > 0) return "";
        const std::string port = std::to_string(port_), dir = dir_.string(), log = dir + "/redis.log";
        std::vector<std::string> args{"redis-server",
                                      "--port",
                                      port,
                                      "--bind",
                                      "127.0.0.1",
                                      "--save",
                                      "",
                                      "--requirepass",
                                      std::string(kPassword),
                                      "--dir",
                                      dir,
                                      "--logfile",
                                      log,
                                      "--appendonly",
                                      durable_ ? "yes" : "no"};
        if (durable_) args.insert(args.end(), {"--appendfsync", "always"});
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        pid_ = ::fork();
        if (pid_ < 0) return "fork failed";
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // gone with a test that crashed
            if (cpus != nullptr) ::sched_setaffinity(0, sizeof *cpus, cpus);
            ::execvp(argv[0], argv.data());
            ::_exit(127);
        }
        for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
             std::chrono::steady_clock::now() < until;) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return "redis-server exited (" + std::to_string(status) + "): " + read(log);
            }
            RedisClient c(url(), std::chrono::milliseconds(500));
            if (auto r = c.command({"PING"}); r && (*r)->str() == "PONG") return "";
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        stop();
        return "redis-server did not answer PING within 10 s: " + read(log);
    }

    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

    uint16_t port() const { return port_; }
    pid_t pid() const { return pid_; }
    RedisUrl url(std::string prefix = "test") const {
        RedisUrl u;
        u.host = "127.0.0.1";
        u.port = port_;
        u.password = kPassword;
        u.prefix = std::move(prefix);
        return u;
    }
    // A command behind the store's back (FLUSHALL, XTRIM), on a connection of its own.
    Expected<Reply> command(const std::vector<std::string_view>& argv) const {
        return RedisClient(url()).command(argv);
    }

    // A port nothing listens on just now (the kernel's pick, released).
    static uint16_t free_port() {
        const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof a;
        ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
        ::close(fd);
        return ntohs(a.sin_port);
    }

private:
    static std::string read(const std::string& path) {
        std::ifstream in(path);
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }

    bool durable_;
    uint16_t port_;
    std::filesystem::path dir_;
    pid_t pid_ = -1;
};

}  // namespace pcscf::ctl::state::testing
