;; Echo consumer written by hand in the WebAssembly text format: a component
;; (the `consumer` world of wit/consumer.wit) around one core module. It
;; accepts every connection, sends every message back unchanged (text stays
;; text, binary stays binary) and logs "disconnect ID: code CODE".
(component
  (import "wasmsock:plugin/connection@0.1.0" (instance $connection
    (type $m (variant (case "text" string) (case "binary" (list u8))))
    (export "message" (type $message (eq $m)))
    (type $e (variant
      (case "unknown-connection") (case "closed") (case "too-large" u64)
      (case "invalid-close") (case "queue-full")))
    (export "error" (type $error (eq $e)))
    (export "send" (func
      (param "conn" u64) (param "message" $message) (result (result (error $error)))))))
  (import "wasmsock:plugin/log@0.1.0" (instance $log
    (type $l (enum "trace" "debug" "info" "warn" "error"))
    (export "level" (type $level (eq $l)))
    (export "log" (func (param "level" $level) (param "message" string)))))

  ;; The memory lives in its own module so the imports can be lowered with
  ;; it before the main module (which uses them) is instantiated.
  (core module $Memory (memory (export "memory") 1))
  (core instance $memory (instantiate $Memory))
  (core func $send (canon lower (func $connection "send") (memory (core memory $memory "memory"))))
  (core func $log (canon lower (func $log "log") (memory (core memory $memory "memory"))))

  (core module $Echo
    (import "env" "memory" (memory 1))
    ;; send(conn, message tag, ptr, len, result area)
    (import "env" "send" (func $send (param i64 i32 i32 i32 i32)))
    ;; log(level, ptr, len)
    (import "env" "log" (func $log (param i32 i32 i32)))

    ;; 0..64: the on-connect result; 64..88: send's result; 128..: a log
    ;; line; from 1024 on: a bump arena for the host's arguments, emptied
    ;; when each callback returns.
    (global $heap_base i32 (i32.const 1024))
    (global $bump (mut i32) (i32.const 1024))
    (data (i32.const 96) "disconnect : code echo failed")

    (func (export "realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
      (local $ptr i32) (local $end i32)
      (local.set $ptr (i32.and
        (i32.add (global.get $bump) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
      (local.set $end (i32.add (local.get $ptr) (local.get $size)))
      (if (i32.gt_u (local.get $end) (i32.mul (memory.size) (i32.const 65536)))
        (then
          (if (i32.lt_s
                (memory.grow (i32.sub
                  (i32.shr_u (i32.add (local.get $end) (i32.const 65535)) (i32.const 16))
                  (memory.size)))
                (i32.const 0))
            (then unreachable))))
      (if (local.get $old)
        (then (memory.copy (local.get $ptr) (local.get $old)
          (select (local.get $old_size) (local.get $size)
            (i32.lt_u (local.get $old_size) (local.get $size))))))
      (global.set $bump (local.get $end))
      (local.get $ptr))

    ;; on-connect(conn, scope) -> result<accept, reject>, arguments and
    ;; result passed in memory: answer ok(accept { none, [] }).
    (func (export "on-connect") (param $args i32) (result i32)
      (i64.store (i32.const 0) (i64.const 0))
      (i64.store (i32.const 8) (i64.const 0))
      (i64.store (i32.const 16) (i64.const 0))
      (global.set $bump (global.get $heap_base))
      (i32.const 0))

    ;; on-message(conn, message): send it straight back.
    (func (export "on-message") (param $conn i64) (param $tag i32) (param $ptr i32) (param $len i32)
      (call $send (local.get $conn) (local.get $tag) (local.get $ptr) (local.get $len) (i32.const 64))
      (if (i32.load8_u (i32.const 64))
        (then (call $log (i32.const 3) (i32.const 114) (i32.const 11))))
      (global.set $bump (global.get $heap_base)))

    ;; on-disconnect(conn, close-info { code, reason, by-client })
    (func (export "on-disconnect") (param $conn i64) (param $code i32) (param $reason i32) (param $reason_len i32) (param $by_client i32)
      (local $at i32)
      (memory.copy (i32.const 128) (i32.const 96) (i32.const 11)) ;; "disconnect "
      (local.set $at (call $decimal (local.get $conn) (i32.const 139)))
      (memory.copy (local.get $at) (i32.const 107) (i32.const 7)) ;; ": code "
      (local.set $at (call $decimal (i64.extend_i32_u (local.get $code))
        (i32.add (local.get $at) (i32.const 7))))
      (call $log (i32.const 2) (i32.const 128) (i32.sub (local.get $at) (i32.const 128)))
      (global.set $bump (global.get $heap_base)))

    ;; Write `n` in decimal at `at`; returns the end.
    (func $decimal (param $n i64) (param $at i32) (result i32)
      (local $end i32) (local $m i64)
      (local.set $end (i32.add (local.get $at) (i32.const 1)))
      (local.set $m (local.get $n))
      (block $done (loop $count
        (local.set $m (i64.div_u (local.get $m) (i64.const 10)))
        (br_if $done (i64.eqz (local.get $m)))
        (local.set $end (i32.add (local.get $end) (i32.const 1)))
        (br $count)))
      (local.set $at (local.get $end))
      (loop $digit
        (local.set $at (i32.sub (local.get $at) (i32.const 1)))
        (i32.store8 (local.get $at)
          (i32.add (i32.const 48) (i32.wrap_i64 (i64.rem_u (local.get $n) (i64.const 10)))))
        (local.set $n (i64.div_u (local.get $n) (i64.const 10)))
        (br_if $digit (i64.ne (local.get $n) (i64.const 0))))
      (local.get $end)))

  (core instance $echo (instantiate $Echo
    (with "env" (instance
      (export "memory" (memory $memory "memory"))
      (export "send" (func $send))
      (export "log" (func $log))))))

  (type $message (variant (case "text" string) (case "binary" (list u8))))
  (type $field (tuple string string))
  (type $scope (record
    (field "path" string) (field "query" string) (field "route" string)
    (field "params" (list $field)) (field "headers" (list $field))
    (field "cookies" (list $field)) (field "subprotocols" (list string))
    (field "remote-addr" string)))
  (type $accept (record (field "subprotocol" (option string)) (field "headers" (list $field))))
  (type $reject (record (field "status" u16) (field "headers" (list $field)) (field "body" string)))
  (type $close-info (record (field "code" u16) (field "reason" string) (field "by-client" bool)))

  (func $on-connect (param "conn" u64) (param "scope" $scope) (result (result $accept (error $reject)))
    (canon lift (core func $echo "on-connect")
      (memory (core memory $memory "memory")) (realloc (core func $echo "realloc"))))
  (func $on-message (param "conn" u64) (param "message" $message)
    (canon lift (core func $echo "on-message")
      (memory (core memory $memory "memory")) (realloc (core func $echo "realloc"))))
  (func $on-disconnect (param "conn" u64) (param "info" $close-info)
    (canon lift (core func $echo "on-disconnect")
      (memory (core memory $memory "memory")) (realloc (core func $echo "realloc"))))

  ;; An exported interface must name the records and variants its functions
  ;; use: a nested component takes the types and functions in and exports
  ;; them under their WIT names.
  (component $Handler
    (type $field (tuple string string))
    (type $s (record
      (field "path" string) (field "query" string) (field "route" string)
      (field "params" (list $field)) (field "headers" (list $field))
      (field "cookies" (list $field)) (field "subprotocols" (list string))
      (field "remote-addr" string)))
    (import "scope" (type $scope (eq $s)))
    (type $a (record (field "subprotocol" (option string)) (field "headers" (list $field))))
    (import "accept" (type $accept (eq $a)))
    (type $r (record (field "status" u16) (field "headers" (list $field)) (field "body" string)))
    (import "reject" (type $reject (eq $r)))
    (type $m (variant (case "text" string) (case "binary" (list u8))))
    (import "message" (type $message (eq $m)))
    (type $c (record (field "code" u16) (field "reason" string) (field "by-client" bool)))
    (import "close-info" (type $close-info (eq $c)))
    (import "on-connect" (func $on-connect
      (param "conn" u64) (param "scope" $scope) (result (result $accept (error $reject)))))
    (import "on-message" (func $on-message (param "conn" u64) (param "message" $message)))
    (import "on-disconnect" (func $on-disconnect (param "conn" u64) (param "info" $close-info)))
    (export $scope' "scope" (type $scope))
    (export $accept' "accept" (type $accept))
    (export $reject' "reject" (type $reject))
    (export $message' "message" (type $message))
    (export $close-info' "close-info" (type $close-info))
    (export "on-connect" (func $on-connect)
      (func (param "conn" u64) (param "scope" $scope') (result (result $accept' (error $reject')))))
    (export "on-message" (func $on-message)
      (func (param "conn" u64) (param "message" $message')))
    (export "on-disconnect" (func $on-disconnect)
      (func (param "conn" u64) (param "info" $close-info'))))
  (instance $handler (instantiate $Handler
    (with "scope" (type $scope))
    (with "accept" (type $accept))
    (with "reject" (type $reject))
    (with "message" (type $message))
    (with "close-info" (type $close-info))
    (with "on-connect" (func $on-connect))
    (with "on-message" (func $on-message))
    (with "on-disconnect" (func $on-disconnect))))
  (export "wasmsock:plugin/handler@0.1.0" (instance $handler))
)
