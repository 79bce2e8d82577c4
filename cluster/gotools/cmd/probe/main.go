// Command probe is a tiny multi-tool image for the embedded cluster's smoke test.
//
//	probe serve ADDR     answer every HTTP request with "probe <hostname>"
//	probe get URL        print the body of one HTTP GET (exit 1 on error or non-200)
//	probe resolve NAME   print the addresses NAME resolves to (exit 1 if none)
//	probe burn SECONDS   keep one CPU busy, for metrics checks
//	probe sleep          block until SIGTERM (a target for kubectl exec)
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func serve(addr string) error {
	host, _ := os.Hostname()
	http.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "probe %s\n", host)
	})
	server := &http.Server{Addr: addr, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
		<-stop
		_ = server.Close()
	}()
	if err := server.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}

func get(url string) error {
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	os.Stdout.Write(body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func resolve(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, name)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		fmt.Println(a)
	}
	return nil
}

func burn(seconds string) error {
	n, err := strconv.Atoi(seconds)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(time.Duration(n) * time.Second)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	fmt.Println(x > 0)
	return nil
}

func sleep() error {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	return nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: probe serve ADDR | get URL | resolve NAME | burn SECONDS | sleep")
		os.Exit(2)
	}
	arg := ""
	if len(os.Args) > 2 {
		arg = os.Args[2]
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(arg)
	case "get":
		err = get(arg)
	case "resolve":
		err = resolve(arg)
	case "burn":
		err = burn(arg)
	case "sleep":
		err = sleep()
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}
