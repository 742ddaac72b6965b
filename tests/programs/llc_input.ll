; llc_input.ll -- compiled by llc on poolmalloc in llc.sh (data for that
; test, not part of the build).  Typed pointers: LLVM 14 syntax.
; collatz_steps(n): steps of the Collatz sequence from n down to 1.
; sum_steps(n): the sum of collatz_steps(i) for i in 1..n.
; classify(x): a switch lowered to a jump table.
; dot(a, b, n): a loop over two arrays (vectorisable).

define i64 @collatz_steps(i64 %n) {
entry:
  %start1 = icmp ule i64 %n, 1
  br i1 %start1, label %done, label %loop

loop:
  %x = phi i64 [ %n, %entry ], [ %next, %step ]
  %c = phi i64 [ 0, %entry ], [ %c1, %step ]
  %odd = and i64 %x, 1
  %isodd = icmp ne i64 %odd, 0
  br i1 %isodd, label %odd.b, label %even.b

odd.b:
  %t = mul i64 %x, 3
  %t1 = add i64 %t, 1
  br label %step

even.b:
  %h = lshr i64 %x, 1
  br label %step

step:
  %next = phi i64 [ %t1, %odd.b ], [ %h, %even.b ]
  %c1 = add i64 %c, 1
  %one = icmp eq i64 %next, 1
  br i1 %one, label %done, label %loop

done:
  %r = phi i64 [ 0, %entry ], [ %c1, %step ]
  ret i64 %r
}

define i64 @sum_steps(i64 %n) {
entry:
  br label %loop

loop:
  %i = phi i64 [ 1, %entry ], [ %i1, %loop ]
  %s = phi i64 [ 0, %entry ], [ %s1, %loop ]
  %k = call i64 @collatz_steps(i64 %i)
  %s1 = add i64 %s, %k
  %i1 = add i64 %i, 1
  %more = icmp ule i64 %i1, %n
  br i1 %more, label %loop, label %exit

exit:
  ret i64 %s1
}

define i32 @classify(i32 %x) {
entry:
  switch i32 %x, label %other [
    i32 0, label %a
    i32 1, label %b
    i32 2, label %c
    i32 3, label %d
    i32 4, label %e
    i32 5, label %f
  ]
a:
  ret i32 17
b:
  ret i32 23
c:
  ret i32 5
d:
  ret i32 99
e:
  ret i32 42
f:
  ret i32 7
other:
  %m = mul i32 %x, 3
  ret i32 %m
}

define i64 @dot(i32* nocapture readonly %a, i32* nocapture readonly %b, i64 %n) {
entry:
  %empty = icmp eq i64 %n, 0
  br i1 %empty, label %exit, label %loop

loop:
  %i = phi i64 [ 0, %entry ], [ %i1, %loop ]
  %acc = phi i64 [ 0, %entry ], [ %acc1, %loop ]
  %pa = getelementptr inbounds i32, i32* %a, i64 %i
  %pb = getelementptr inbounds i32, i32* %b, i64 %i
  %va = load i32, i32* %pa, align 4
  %vb = load i32, i32* %pb, align 4
  %wa = sext i32 %va to i64
  %wb = sext i32 %vb to i64
  %p = mul nsw i64 %wa, %wb
  %acc1 = add nsw i64 %acc, %p
  %i1 = add nuw i64 %i, 1
  %more = icmp ult i64 %i1, %n
  br i1 %more, label %loop, label %exit

exit:
  %r = phi i64 [ 0, %entry ], [ %acc1, %loop ]
  ret i64 %r
}
