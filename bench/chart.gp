# chart.gp - deliveries/s and p99 latency against subscribers, from
# bench/out/chart.dat: subscribers, then for the burst and for 100 events/s
# each: ssed rate, ssed p99, nchan rate, nchan p99.
set terminal pngcairo size 1000,420 font "sans,10"
set output "bench/results.png"
set multiplot layout 1,2 title "ssed and nchan, fan-out (loopback, medians)"
set logscale x
set xrange [700:14000]
set xtics (1000, 10000)
set xlabel "subscribers"
set key top left
set ylabel "deliveries/s (log scale)"
set logscale y
plot "bench/out/chart.dat" using 1:2 with linespoints lw 2 lc 1 title "ssed, burst", \
     "" using 1:4 with linespoints lw 2 lc 2 title "nchan, burst", \
     "" using 1:6 with linespoints lw 2 dt 2 lc 1 title "ssed, 100/s", \
     "" using 1:8 with linespoints lw 2 dt 2 lc 2 title "nchan, 100/s"
unset logscale y
set yrange [0:*]
set ylabel "p99 latency (ms)"
plot "bench/out/chart.dat" using 1:3 with linespoints lw 2 lc 1 title "ssed, burst", \
     "" using 1:5 with linespoints lw 2 lc 2 title "nchan, burst", \
     "" using 1:7 with linespoints lw 2 dt 2 lc 1 title "ssed, 100/s", \
     "" using 1:9 with linespoints lw 2 dt 2 lc 2 title "nchan, 100/s"
unset multiplot
