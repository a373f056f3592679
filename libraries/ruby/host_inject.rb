# Ruby bootstrap of the datadog-apm-library-ruby package, loaded by single-step
# instrumentation through RUBYOPT="-r<package>/host_inject".
#
# It makes the tracer gems shipped in this package (installed under <package>/gems with
# `gem install --install-dir`) loadable and starts the tracer, without ever writing to the
# application's directory: no Gemfile or lockfile change, not even temporarily. With Bundler
# the application's bundle stays as it is: the package's gem directories are appended to the
# load path (so the bundle's own gems win), they are not added to the bundle. An application
# that bundles its own datadog (or ddtrace) gem keeps it and this bootstrap stands down.
#
# Only a process the launcher decided to instrument goes on: one that carries the launcher's
# decision record (the first page of the launcher library's writable mapping, written by the
# launcher in the process it decided on, dropped by exec) saying outcome=injected. A Ruby started without
# the launcher, or an interpreter embedded in another program, inherits RUBYOPT but stays
# untouched.
#
# Whatever goes wrong, the application runs uninstrumented; with
# DD_APM_INSTRUMENTATION_DEBUG=true (or DD_TRACE_DEBUG=true) it says why on standard error.
module DatadogHostInject
  PACKAGE = File.expand_path(__dir__)
  GEMS = File.join(PACKAGE, 'gems')
  # The launcher's decision record (contract/src/status.rs): the first page of a private
  # writable mapping of the launcher library in /proc/self/maps, its first line, and what it
  # says for a process the launcher instrumented.
  LAUNCHER = '/launcher.preload.so'
  HEADER = "apm-inject-status 1\n"
  INJECTED = "\noutcome=injected\n"

  module_function

  def debug?
    %w[DD_APM_INSTRUMENTATION_DEBUG DD_TRACE_DEBUG].any? { |name| ENV[name].to_s =~ /\A(true|1)\z/i }
  end

  def log(message)
    $stderr.puts("datadog host_inject: #{message}") if debug?
  end

  # The lock file of the application's bundle, if it has one.
  def lockfile
    gemfile = ENV['BUNDLE_GEMFILE'].to_s
    gemfile = %w[Gemfile gems.rb].find { |name| File.file?(name) }.to_s if gemfile.empty?
    return nil if gemfile.empty?
    [gemfile + '.lock', gemfile.sub(/gems\.rb\z/, 'gems.locked')].find { |path| File.file?(path) }
  end

  def app_bundles_tracer?
    lock = lockfile
    lock && File.foreach(lock).any? { |line| line =~ /\A    (datadog|ddtrace) \(/ }
  end

  # Start addresses of the launcher library's private writable mappings in this process.
  def launcher_mappings
    File.foreach('/proc/self/maps').map do |line|
      # "start-end perms offset dev inode path", the path perhaps " (deleted)"
      fields = line.chomp.split(' ', 6)
      next unless fields.length == 6 && fields[1] == 'rw-p'
      next unless fields[5].strip.sub(/ \(deleted\)\z/, '').end_with?(LAUNCHER)
      fields[0].split('-', 2).first.to_i(16)
    end.compact
  end

  # Whether the launcher decided to instrument this very process.
  def decided_here?
    addresses = launcher_mappings
    return false if addresses.empty?
    File.open('/proc/self/mem', 'rb') do |mem|
      addresses.any? do |address|
        mem.seek(address)
        record = mem.read(1024).to_s
        record.start_with?(HEADER) && record.include?(INJECTED)
      end
    end
  rescue StandardError
    false
  end

  def start
    return unless decided_here?
    return log('not instrumented: the application bundles its own tracer') if app_bundles_tracer?
    return log('not instrumented: a tracer is already loaded') if defined?(::Datadog::Tracing)
    dirs = Dir.glob(File.join(GEMS, 'gems', '*', 'lib')).sort
    return log("not instrumented: no tracer gems in #{GEMS}") if dirs.empty?
    $LOAD_PATH.concat(dirs - $LOAD_PATH)
    require 'datadog/auto_instrument'
    log('tracer loaded')
  rescue Exception => e # rubocop:disable Lint/RescueException -- never fail the application
    log("not instrumented: #{e.class}: #{e.message}")
  end
end

DatadogHostInject.start
